import type { NotificationSettings } from '../../config/notifications.settings';
import { backoffMs } from './alert-format';
import type { NotificationRecord } from './alert.types';

// When alerts are attempted and when they are given up (docs/protocol.md, "Alert limits and
// digests"). Pure: DeliveryService claims, sends, logs and counts.

// How long each attempt at an alert has, its window: the first (by the instance that raised it)
// before others may retry it, each retry before another instance may take the alert over.
export const FIRST_ATTEMPT_MS = 120_000;
// The longest one send takes: an email ends within 20 s (MAIL_TIMEOUTS.sendMs), an SMS request
// within 15 s (SMS_TIMEOUT_MS). An attempt starts no send later than this before its window ends.
export const SEND_LIMIT_MS = 30_000;

export const DELIVERY_TIMING = Symbol('DELIVERY_TIMING');
export interface DeliveryTiming {
  windowMs: number;
  sendLimitMs: number;
}
export const DEFAULT_TIMING: DeliveryTiming = { windowMs: FIRST_ATTEMPT_MS, sendLimitMs: SEND_LIMIT_MS };

// Attempt windows follow one another from the time the attempt was due (next_attempt_at); the first
// attempt's is the one before, while the alert is not yet due (-1). Its claimant starts no send
// after `deadline`, so its sends are over when the next window opens.
export function attemptWindow(
  due: number,
  now: number,
  timing: DeliveryTiming,
): { window: number; deadline: number } {
  const window = Math.floor((now - due) / timing.windowMs);
  return { window, deadline: due + (window + 1) * timing.windowMs - timing.sendLimitMs };
}

// After an attempt: sent, due again after a backoff, or failed, which it is once it has had
// ALERT_RETRY_ATTEMPTS attempts and is ALERT_RETRY_FOR old, so an outage shorter than that loses
// no alert.
export function settleAttempt(
  record: NotificationRecord,
  errors: string[],
  retry: NotificationSettings['retry'],
  now = Date.now(),
): 'sent' | 'retry' | 'failed' {
  record.attempts++;
  if (errors.length === 0) {
    record.status = 'sent';
    record.next_attempt_at = null;
    record.last_error = null;
    return 'sent';
  }
  record.last_error = errors.join('; ').slice(0, 1000);
  const failed = record.attempts >= retry.attempts && now - record.at.getTime() >= retry.forMs;
  record.status = failed ? 'failed' : 'pending';
  record.next_attempt_at = failed
    ? null
    : new Date(now + backoffMs(record.attempts, retry.baseMs, retry.maxMs));
  return failed ? 'failed' : 'retry';
}

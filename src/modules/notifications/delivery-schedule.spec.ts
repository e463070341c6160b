import fc from 'fast-check';
import { loadNotificationSettings } from '../../config/notifications.settings';
import type { NotificationRecord } from './alert.types';
import { attemptWindow, DEFAULT_TIMING, settleAttempt } from './delivery-schedule';

const retry = loadNotificationSettings({ ALERT_RETRY_ATTEMPTS: '3', ALERT_RETRY_FOR: '1h' }).retry;

function pending(at: number, attempts = 0): NotificationRecord {
  return {
    id: 'a1',
    kind: 'alert',
    type: 'crash',
    user_id: null,
    session_id: null,
    affected_users: 0,
    details: null,
    reason: null,
    link: null,
    at: new Date(at),
    channels: ['email'],
    sent: [],
    status: 'pending',
    attempts,
    next_attempt_at: new Date(at),
    last_error: null,
    digest_id: null,
    summary: null,
  };
}

describe('attemptWindow', () => {
  it('should put every moment in one window and end its sends a send limit before the next opens', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e12 }),
        fc.integer({ min: -120_000, max: 1e9 }),
        (due, after) => {
          const { window, deadline } = attemptWindow(due, due + after, DEFAULT_TIMING);
          const start = due + window * DEFAULT_TIMING.windowMs;
          expect(due + after).toBeGreaterThanOrEqual(start);
          expect(due + after).toBeLessThan(start + DEFAULT_TIMING.windowMs);
          expect(deadline).toBe(start + DEFAULT_TIMING.windowMs - DEFAULT_TIMING.sendLimitMs);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should give the first attempt the window before the alert is due, and retries the windows after', () => {
    const due = 1_000_000;
    expect(attemptWindow(due, due - DEFAULT_TIMING.windowMs, DEFAULT_TIMING).window).toBe(-1);
    expect(attemptWindow(due, due, DEFAULT_TIMING).window).toBe(0);
    expect(attemptWindow(due, due + DEFAULT_TIMING.windowMs, DEFAULT_TIMING).window).toBe(1);
  });
});

describe('settleAttempt', () => {
  it('should keep a failing alert pending until it has had the attempts and is ALERT_RETRY_FOR old', () => {
    const at = Date.now();
    const young = pending(at, 5);
    expect(settleAttempt(young, ['email: smtp ETIMEDOUT'], retry, at + 60_000)).toBe('retry');
    expect(young).toMatchObject({ status: 'pending', attempts: 6, last_error: 'email: smtp ETIMEDOUT' });
    expect(young.next_attempt_at!.getTime()).toBeGreaterThan(at + 60_000);
    const few = pending(at, 0);
    expect(settleAttempt(few, ['email: smtp ETIMEDOUT'], retry, at + 7_200_000)).toBe('retry');
    const old = pending(at, 2);
    expect(settleAttempt(old, ['email: smtp ETIMEDOUT'], retry, at + 3_600_000)).toBe('failed');
    expect(old).toMatchObject({ status: 'failed', attempts: 3, next_attempt_at: null });
  });

  it('should mark an attempt without errors sent', () => {
    const record = pending(Date.now(), 4);
    expect(settleAttempt(record, [], retry)).toBe('sent');
    expect(record).toMatchObject({ status: 'sent', attempts: 5, next_attempt_at: null, last_error: null });
  });
});

import type { AlertEventType, NotificationRecord } from './alert.types';

// What an alert says, per channel. Pure, so it can be property-tested: subjects and SMS are one
// line without control characters whatever the input (user ids come from a parent app's JWT).

const TITLES: Record<AlertEventType | 'digest', string> = {
  help_request: 'Help requested',
  llm_failure: 'LLM failure',
  database_failure: 'Database unreachable',
  abnormal_traffic: 'Abnormal traffic',
  crash: 'Instance crashed',
  message_report: 'Room message reported',
  digest: 'Alert digest',
};

const SMS_MAX = 320;
const FIELD_MAX = 500;

// One line, no control characters (no header or line injection), bounded.
export function oneLine(text: string, max = FIELD_MAX): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function sessionLink(publicBaseUrl: string, sessionId: string): string {
  return `${publicBaseUrl}/admin/?session=${encodeURIComponent(sessionId)}`;
}

export function subjectOf(alert: NotificationRecord): string {
  if (alert.kind === 'digest') {
    const total = Object.values(alert.summary ?? {}).reduce((sum, count) => sum + count, 0);
    return `[chatbox] ${TITLES.digest}: ${total} alert${total === 1 ? '' : 's'} held back`;
  }
  const about = alert.session_id ? ` (session ${oneLine(alert.session_id, 64)})` : '';
  return `[chatbox] ${TITLES[alert.type]}${about}`;
}

// The email body: one "Field: value" line per fact, then the free text.
export function textOf(alert: NotificationRecord): string {
  const lines = [
    alert.kind === 'digest'
      ? 'These alerts were held back by the rate limits since the last digest:'
      : `${TITLES[alert.type]}.`,
    '',
    `Event: ${alert.type}`,
    `Time: ${alert.at.toISOString()}`,
  ];
  const field = (label: string, value: string | null, max?: number) => {
    const flat = value === null ? '' : oneLine(value, max);
    if (flat.length > 0) lines.push(`${label}: ${flat}`);
  };
  field('User', alert.user_id);
  field('Session', alert.session_id);
  field('Link', alert.link);
  lines.push(`Affected users: ${alert.affected_users}`);
  field('Reason', alert.reason, 2000);
  field('Details', alert.details, 2000);
  if (alert.summary) {
    lines.push('');
    for (const [type, count] of Object.entries(alert.summary)) lines.push(`${type}: ${count}`);
  }
  return `${lines.join('\n')}\n`;
}

export function smsOf(alert: NotificationRecord): string {
  const parts = [`chatbox: ${TITLES[alert.type]}`];
  if (alert.kind === 'digest') parts.push(subjectOf(alert).replace('[chatbox] ', ''));
  if (alert.user_id) parts.push(`user ${oneLine(alert.user_id, 64)}`);
  if (alert.affected_users > 1) parts.push(`${alert.affected_users} users affected`);
  if (alert.link) parts.push(alert.link);
  else if (alert.details) parts.push(oneLine(alert.details, 120));
  return oneLine(parts.join(' · '), SMS_MAX);
}

// Retry delay after `attempts` failed attempts: exponential from `baseMs`, capped, with up to 20 %
// jitter so instances that failed together do not retry together.
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random()): number {
  const exponential = baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30);
  const capped = Math.min(exponential, maxMs);
  return Math.round(capped * (1 + 0.2 * Math.min(Math.max(random, 0), 1)));
}

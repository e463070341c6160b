import { sliceWhole } from '../../common/display-text';
import type { AlertEventType, NotificationRecord } from './alert.types';

// What an alert says, per channel. Pure, so it can be property-tested: subjects and SMS are one
// line without control or format characters whatever the input (user ids come from a parent app's
// JWT), and SMS are GSM-7 (docs/protocol.md, "Alert limits and digests").

const TITLES: Record<AlertEventType | 'digest', string> = {
  help_request: 'Help requested',
  llm_failure: 'LLM failure',
  database_failure: 'Database unreachable',
  abnormal_traffic: 'Abnormal traffic',
  crash: 'Instance crashed',
  message_report: 'Room message reported',
  digest: 'Alert digest',
};

// One SMS part holds 160 GSM-7 characters; a longer one is sent as parts of 153 (at most two here).
const SMS_PART = 160;
const SMS_MAX = 306;
const SMS_SEPARATOR = ' - ';
// what a user id keeps however long the rest of the SMS is
const SMS_USER_MIN = 16;
const FIELD_MAX = 500;

// GSM 03.38: one septet each, and the extension table's characters (escape + one septet, so two)
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENSION = new Set('^{}\\[~]|€');
// the usual look-alikes outside GSM-7 that would otherwise turn a whole SMS into UCS-2
const GSM_LOOKALIKES: Record<string, string> = {
  '…': '...',
  '·': '-',
  '–': '-',
  '—': '-',
  '‘': "'",
  '’': "'",
  '“': '"',
  '”': '"',
  '`': "'",
  '\u00a0': ' ',
};

// One line, no control characters (no header or line injection) and no format characters (\p{Cf}:
// bidi controls such as U+202E reorder what the admin reads, zero-width ones hide text), bounded.
export function oneLine(text: string, max = FIELD_MAX): string {
  const flat = text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/\p{Cf}/gu, '')
    .trim();
  // cut at a whole character: until the text-limits audit of session 41 a help request of emoji
  // came to the admin's mail and SMS with U+FFFD where the cut split a pair
  return flat.length > max ? `${sliceWhole(flat, max - 1)}…` : flat;
}

// The text in GSM-7 characters: look-alikes replaced, accents dropped where the plain letter is
// GSM-7, anything else '?'. Twilio sends a body with one character outside GSM-7 as UCS-2: 70
// characters a part instead of 160.
export function toGsm7(text: string): string {
  let out = '';
  for (const character of text.normalize('NFC')) {
    if (GSM_BASIC.has(character) || GSM_EXTENSION.has(character)) out += character;
    else if (GSM_LOOKALIKES[character] !== undefined) out += GSM_LOOKALIKES[character];
    else {
      const plain = character.normalize('NFD').replace(/\p{M}+/gu, '');
      out += plain.length === 1 && GSM_BASIC.has(plain) ? plain : '?';
    }
  }
  return out;
}

// How many septets a GSM-7 text takes (extension characters take two).
export function gsmSeptets(text: string): number {
  let septets = 0;
  for (const character of text) septets += GSM_EXTENSION.has(character) ? 2 : 1;
  return septets;
}

// The longest start of a GSM-7 text that fits in `septets`; cut texts end with '...'.
function fitGsm(text: string, septets: number): string {
  if (gsmSeptets(text) <= septets) return text;
  let out = '';
  for (const character of text) {
    if (gsmSeptets(out) + gsmSeptets(character) > septets - 3) break;
    out += character;
  }
  return `${out}...`;
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

// GSM-7 only, in one part of 160 where the link allows: the user id and the details give way to the
// title and the link (docs/protocol.md, "Alert limits and digests").
export function smsOf(alert: NotificationRecord): string {
  const gsm = (text: string, max?: number) => toGsm7(oneLine(text, max));
  const head = [`chatbox: ${TITLES[alert.type]}`];
  if (alert.kind === 'digest') head.push(gsm(subjectOf(alert).replace('[chatbox] ', '')));
  const tail: string[] = [];
  if (alert.affected_users > 1) tail.push(`${alert.affected_users} users affected`);
  if (alert.link) tail.push(gsm(alert.link));
  const fixed = gsmSeptets([...head, ...tail].join(SMS_SEPARATOR));
  // what is left of one part for the user id, then for the details
  let room = SMS_PART - fixed;
  const parts = [...head];
  if (alert.user_id) {
    const user = fitGsm(
      gsm(alert.user_id, 64),
      Math.max(room - 'user '.length - SMS_SEPARATOR.length, SMS_USER_MIN),
    );
    if (user.length > 0) {
      parts.push(`user ${user}`);
      room -= gsmSeptets(parts[parts.length - 1]) + SMS_SEPARATOR.length;
    }
  }
  parts.push(...tail);
  if (!alert.link && alert.details) {
    const details = fitGsm(gsm(alert.details, 120), Math.max(room - SMS_SEPARATOR.length, 40));
    if (details.length > 0) parts.push(details);
  }
  return fitGsm(parts.join(SMS_SEPARATOR), SMS_MAX);
}

// Retry delay after `attempts` failed attempts: exponential from `baseMs`, capped, with up to 20 %
// jitter so instances that failed together do not retry together.
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random()): number {
  const exponential = baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30);
  const capped = Math.min(exponential, maxMs);
  return Math.round(capped * (1 + 0.2 * Math.min(Math.max(random, 0), 1)));
}

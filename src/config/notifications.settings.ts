import {
  describeSetting,
  duration,
  type Env,
  integer,
  list,
  SettingsError,
  text,
  TIMER_MAX_MS,
  TIMER_MIN_MS,
} from './env-readers';

// Admin alerts section: email over SMTP, SMS through Twilio, which event goes where, rate limits,
// digest and retries. Email is on when SMTP_URL is set, SMS when TWILIO_ACCOUNT_SID is set; their
// other settings are required only then. With neither, alerts go to the log.

export const ALERT_EVENT_TYPES = [
  'help_request',
  'llm_failure',
  'database_failure',
  'abnormal_traffic',
  'crash',
  'message_report',
] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

export const ALERT_CHANNELS = ['email', 'sms', 'log'] as const;
export type AlertChannel = (typeof ALERT_CHANNELS)[number];

export type AlertRules = Record<AlertEventType, AlertChannel[]>;

export const DEFAULT_ALERT_RULES: AlertRules = {
  help_request: ['email', 'sms'],
  llm_failure: ['email'],
  database_failure: ['email', 'sms'],
  abnormal_traffic: ['email'],
  crash: ['email', 'sms'],
  message_report: ['email', 'sms'],
};

export interface MailSettings {
  smtpUrl: string;
  from: string;
  to: string[];
}

export interface SmsSettings {
  accountSid: string;
  authToken: string;
  from: string;
  to: string[];
  // base URL replacing https://api.twilio.com (proxies, tests)
  apiUrl?: string;
}

export interface NotificationSettings {
  mail?: MailSettings;
  sms?: SmsSettings;
  rules: AlertRules;
  // at most `perType` alerts of one type per `typeWindowMs`; the rest go to the digest
  limits: { perType: number; typeWindowMs: number; sessionWindowMs: number };
  digestIntervalMs: number;
  // failed channels are retried (backoff from baseMs, capped at maxMs) until the alert has had
  // `attempts` attempts and is `forMs` old; then it is failed (docs/protocol.md, "Alert limits and
  // digests")
  retry: { attempts: number; baseMs: number; maxMs: number; forMs: number };
  // settled alerts and digests older than this are removed, with the reasons they keep (a help
  // request's text); a message report's alert goes sooner with its report, ROOM_RETENTION
  retentionMs: number;
  // abnormal traffic: rate-limit rejections or errors per minute above these raise an alert
  traffic: { rateLimitedPerMinute: number; errorsPerMinute: number; checkIntervalMs: number };
  // instance heartbeats and MongoDB pings; an instance silent for 3 intervals crashed
  watchIntervalMs: number;
}

// "help_request:email,sms;crash:log" → rules; types not named keep their defaults. Total: returns the
// rules or throws a SettingsError naming ALERT_RULES.
export function parseAlertRules(raw: string | undefined, name = 'ALERT_RULES'): AlertRules {
  const rules: AlertRules = { ...DEFAULT_ALERT_RULES };
  if (raw === undefined || raw.trim() === '') return rules;
  for (const entry of raw.split(';')) {
    if (entry.trim() === '') continue;
    const separator = entry.indexOf(':');
    if (separator < 0) throw new SettingsError(name, `expected type:channel,channel; got "${entry.trim()}"`);
    const type = entry.slice(0, separator).trim();
    if (!(ALERT_EVENT_TYPES as readonly string[]).includes(type)) {
      throw new SettingsError(name, `unknown event type "${type}" (${ALERT_EVENT_TYPES.join(', ')})`);
    }
    const channels = entry
      .slice(separator + 1)
      .split(',')
      .map((channel) => channel.trim())
      .filter((channel) => channel.length > 0);
    for (const channel of channels) {
      if (!(ALERT_CHANNELS as readonly string[]).includes(channel)) {
        throw new SettingsError(name, `unknown channel "${channel}" (${ALERT_CHANNELS.join(', ')})`);
      }
    }
    rules[type as AlertEventType] = [...new Set(channels as AlertChannel[])];
  }
  return rules;
}

function smtpUrl(env: Env): string | undefined {
  describeSetting({ name: 'SMTP_URL', kind: 'url', range: 'smtp:// or smtps:// URL' });
  const raw = text(env, 'SMTP_URL');
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new SettingsError('SMTP_URL', 'must be a URL such as smtp://user:pass@host:587');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:')
    throw new SettingsError('SMTP_URL', 'must start with smtp:// or smtps://');
  // nodemailer would try localhost instead
  if (parsed.hostname === '') throw new SettingsError('SMTP_URL', "must name the relay's host");
  return raw;
}

// A base URL the SDK's request paths are appended to: no query or fragment, which would swallow
// them. Not quoted when refused: a proxy's URL may carry its credentials.
function optionalBaseUrl(env: Env, name: string): string | undefined {
  describeSetting({ name, kind: 'url', range: 'http(s) URL, no query' });
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new SettingsError(name, 'must be an http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new SettingsError(name, 'must be an http(s) URL');
  if (parsed.search !== '' || parsed.hash !== '')
    throw new SettingsError(name, 'must be an http(s) URL without a query or fragment');
  return raw.replace(/\/+$/, '');
}

function requiredWhen(env: Env, name: string, feature: string): string {
  const value = text(env, name);
  if (value === undefined) throw new SettingsError(name, `is required when ${feature} is set`);
  return value;
}

const EMAIL_PATTERN = /^[^\s@,;<>]+@[^\s@,;<>]+$/;
const PHONE_PATTERN = /^\+[1-9]\d{5,14}$/;

// The sender of alert mail: local@domain, or Name <local@domain> with the name bare or "quoted".
// nodemailer reads almost anything as an address list: "not-an-address" became a name with no
// address, and alerts went out with the envelope MAIL FROM:<> and no From header. The local part is
// RFC 5322's dot-atom, the domain host-name labels (localhost included: the default).
const MAILBOX =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// a bare name: no character that means something in an address list; a quoted one: no quote or
// backslash inside; neither with control characters (a line break would start a header)
const BARE_NAME = /^[^\p{Cc}"<>()[\]\\,;:@]+$/u;
const QUOTED_NAME = /^"[^\p{Cc}"\\]*"$/u;

export function parseMailFrom(raw: string | undefined, name = 'MAIL_FROM'): string {
  describeSetting({ name, kind: 'text', fallback: 'chatbox@localhost', range: 'a@b or Name <a@b>' });
  const value = raw?.trim() || 'chatbox@localhost';
  const named = /^(.*?)\s*<([^<>]*)>$/s.exec(value);
  const mailbox = named ? named[2] : value;
  const display = named?.[1].trim() ?? '';
  const nameOk = display === '' || BARE_NAME.test(display) || QUOTED_NAME.test(display);
  if (!MAILBOX.test(mailbox) || !nameOk)
    throw new SettingsError(
      name,
      'must be an address such as chatbox@example.com or Chatbox <chatbox@example.com>',
    );
  return value;
}

// What Twilio sends SMS from: an E.164 number, a short code, an alphanumeric sender ID (up to 11
// letters, digits and spaces, not only digits) or a channel address (whatsapp:+15550001111).
// Anything else failed every message (Twilio error 21212).
const SMS_SENDERS = [PHONE_PATTERN, /^\d{3,8}$/, /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/, /^[a-z]+:[^\s/]\S*$/];

export function parseSmsSender(raw: string, name = 'TWILIO_FROM'): string {
  describeSetting({ name, kind: 'text', range: 'E.164, short code, sender ID or channel:address' });
  if (!SMS_SENDERS.some((pattern) => pattern.test(raw)))
    throw new SettingsError(
      name,
      `must be an E.164 number (+15550001111), a short code, an alphanumeric sender ID or a channel address, got "${raw}"`,
    );
  return raw;
}

function recipients(env: Env, name: string, feature: string, pattern: RegExp, kind: string): string[] {
  const values = list(env, name, '');
  if (values.length === 0) throw new SettingsError(name, `is required when ${feature} is set`);
  const bad = values.find((value) => !pattern.test(value));
  if (bad !== undefined) throw new SettingsError(name, `"${bad}" is not ${kind}`);
  return values;
}

export function loadNotificationSettings(env: Env): NotificationSettings {
  const smtp = smtpUrl(env);
  // checked whenever set, as TWILIO_API_URL is: a bad one would wait, unseen, until its channel is on
  const mailFrom = parseMailFrom(text(env, 'MAIL_FROM'));
  const twilioApiUrl = optionalBaseUrl(env, 'TWILIO_API_URL');
  const mail: MailSettings | undefined = smtp
    ? {
        smtpUrl: smtp,
        from: mailFrom,
        to: recipients(env, 'ADMIN_EMAILS', 'SMTP_URL', EMAIL_PATTERN, 'an email address'),
      }
    : undefined;
  const accountSid = text(env, 'TWILIO_ACCOUNT_SID');
  if (accountSid !== undefined && !/^AC[0-9a-zA-Z]{8,64}$/.test(accountSid))
    throw new SettingsError('TWILIO_ACCOUNT_SID', 'must start with AC');
  const sms: SmsSettings | undefined = accountSid
    ? {
        accountSid,
        authToken: requiredWhen(env, 'TWILIO_AUTH_TOKEN', 'TWILIO_ACCOUNT_SID'),
        from: parseSmsSender(requiredWhen(env, 'TWILIO_FROM', 'TWILIO_ACCOUNT_SID')),
        to: recipients(env, 'ADMIN_PHONES', 'TWILIO_ACCOUNT_SID', PHONE_PATTERN, 'an E.164 phone number'),
        apiUrl: twilioApiUrl,
      }
    : undefined;
  return {
    mail,
    sms,
    rules: parseAlertRules(text(env, 'ALERT_RULES')),
    limits: {
      perType: integer(env, 'ALERT_LIMIT_PER_TYPE', 10, 1, 1_000_000),
      typeWindowMs: duration(env, 'ALERT_LIMIT_WINDOW', '10m', TIMER_MIN_MS),
      sessionWindowMs: duration(env, 'ALERT_SESSION_WINDOW', '5m', TIMER_MIN_MS),
    },
    digestIntervalMs: duration(env, 'ALERT_DIGEST_INTERVAL', '10m', TIMER_MIN_MS, TIMER_MAX_MS),
    retry: {
      attempts: integer(env, 'ALERT_RETRY_ATTEMPTS', 6, 1, 100),
      baseMs: duration(env, 'ALERT_RETRY_BASE', '5s'),
      maxMs: duration(env, 'ALERT_RETRY_MAX', '5m'),
      forMs: duration(env, 'ALERT_RETRY_FOR', '24h', 0, 30 * 86_400_000),
    },
    retentionMs: duration(env, 'ALERT_RETENTION', '90d', 1000),
    traffic: {
      rateLimitedPerMinute: integer(env, 'ABNORMAL_RATE_LIMITED_PER_MINUTE', 120, 1),
      errorsPerMinute: integer(env, 'ABNORMAL_ERRORS_PER_MINUTE', 60, 1),
      checkIntervalMs: duration(env, 'TRAFFIC_CHECK_INTERVAL', '60s', TIMER_MIN_MS, TIMER_MAX_MS),
    },
    watchIntervalMs: duration(env, 'HEALTH_WATCH_INTERVAL', '15s', TIMER_MIN_MS, TIMER_MAX_MS),
  };
}

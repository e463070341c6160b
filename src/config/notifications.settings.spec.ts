import fc from 'fast-check';
import addressparser from 'nodemailer/lib/addressparser';
import {
  ALERT_CHANNELS,
  ALERT_EVENT_TYPES,
  DEFAULT_ALERT_RULES,
  loadNotificationSettings,
  parseAlertRules,
  parseMailFrom,
  parseSmsSender,
} from './notifications.settings';
import { SettingsError } from './env-readers';

type Env = Record<string, string | undefined>;

function rejected(env: Env): SettingsError {
  try {
    loadNotificationSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('accepted');
}

const SMS: Env = {
  TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
  TWILIO_AUTH_TOKEN: 'token',
  TWILIO_FROM: '+15550001111',
  ADMIN_PHONES: '+15550002222',
};

describe('parseAlertRules', () => {
  const rule = fc.record({
    type: fc.constantFrom(...ALERT_EVENT_TYPES),
    channels: fc.uniqueArray(fc.constantFrom(...ALERT_CHANNELS), { minLength: 1 }),
  });

  it('should give every named type exactly its channels and keep the defaults of the others', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(rule, { selector: (entry) => entry.type }),
        fc.constantFrom('', ' '),
        (rules, pad) => {
          const raw = rules
            .map((entry) => `${pad}${entry.type}${pad}:${entry.channels.join(`${pad},`)}`)
            .join(';');
          const parsed = parseAlertRules(raw);
          for (const type of ALERT_EVENT_TYPES) {
            const named = rules.find((entry) => entry.type === type);
            expect(parsed[type]).toEqual(named ? named.channels : DEFAULT_ALERT_RULES[type]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should either parse or throw a SettingsError naming ALERT_RULES, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (raw) => {
        try {
          const parsed = parseAlertRules(raw);
          for (const channels of Object.values(parsed))
            for (const channel of channels) expect(ALERT_CHANNELS).toContain(channel);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('ALERT_RULES');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should refuse unknown types, unknown channels and entries without a colon', () => {
    expect(() => parseAlertRules('help:email')).toThrow(/unknown event type "help"/);
    expect(() => parseAlertRules('crash:pager')).toThrow(/unknown channel "pager"/);
    expect(() => parseAlertRules('crash')).toThrow(/type:channel/);
    expect(parseAlertRules('crash:')).toMatchObject({ crash: [] });
    expect(parseAlertRules(undefined)).toEqual(DEFAULT_ALERT_RULES);
  });
});

describe('loadNotificationSettings', () => {
  it('should turn email and SMS off and use the defaults when nothing is set', () => {
    const settings = loadNotificationSettings({});
    expect(settings.mail).toBeUndefined();
    expect(settings.sms).toBeUndefined();
    expect(settings.rules).toEqual(DEFAULT_ALERT_RULES);
    expect(settings.limits).toEqual({ perType: 10, typeWindowMs: 600_000, sessionWindowMs: 300_000 });
    // retried until a day has passed, at most 5 minutes apart (docs/protocol.md, "Alert limits and
    // digests"): six attempts from 5 s were over within minutes, and an outage that long lost alerts
    expect(settings.retry).toEqual({ attempts: 6, baseMs: 5000, maxMs: 300_000, forMs: 86_400_000 });
    expect(settings.digestIntervalMs).toBe(600_000);
  });

  it('should read email and SMS when their switches are set', () => {
    const settings = loadNotificationSettings({
      SMTP_URL: 'smtps://user:pass@mail.example.com:465',
      MAIL_FROM: 'alerts@example.com',
      ADMIN_EMAILS: 'a@example.com, b@example.com',
      ...SMS,
      TWILIO_API_URL: 'http://127.0.0.1:9999/',
    });
    expect(settings.mail).toEqual({
      smtpUrl: 'smtps://user:pass@mail.example.com:465',
      from: 'alerts@example.com',
      to: ['a@example.com', 'b@example.com'],
    });
    expect(settings.sms).toMatchObject({
      from: '+15550001111',
      to: ['+15550002222'],
      apiUrl: 'http://127.0.0.1:9999',
    });
  });

  it('should read how long failed alerts are retried, none meaning the attempts alone decide', () => {
    expect(loadNotificationSettings({ ALERT_RETRY_FOR: '2h' }).retry.forMs).toBe(7_200_000);
    expect(loadNotificationSettings({ ALERT_RETRY_FOR: '0' }).retry).toMatchObject({ attempts: 6, forMs: 0 });
  });

  // settled alerts keep reasons (a help request's text): removed after ALERT_RETENTION (docs/protocol.md,
  // "Alert limits and digests")
  it('should read how long settled alerts are kept, 90 days unless set', () => {
    expect(loadNotificationSettings({}).retentionMs).toBe(90 * 86_400_000);
    expect(loadNotificationSettings({ ALERT_RETENTION: '30d' }).retentionMs).toBe(30 * 86_400_000);
    expect(rejected({ ALERT_RETENTION: 'forever' }).setting).toBe('ALERT_RETENTION');
    expect(rejected({ ALERT_RETENTION: '10ms' }).setting).toBe('ALERT_RETENTION');
  });

  it('should name the setting when a value is missing or wrong', () => {
    expect(rejected({ SMTP_URL: 'http://mail.example.com' }).setting).toBe('SMTP_URL');
    expect(rejected({ SMTP_URL: 'not a url' }).setting).toBe('SMTP_URL');
    expect(rejected({ SMTP_URL: 'smtp://mail.example.com' }).setting).toBe('ADMIN_EMAILS');
    expect(rejected({ SMTP_URL: 'smtp://m.example.com', ADMIN_EMAILS: 'nobody' }).setting).toBe(
      'ADMIN_EMAILS',
    );
    expect(rejected({ ...SMS, TWILIO_ACCOUNT_SID: 'SK123456789012' }).setting).toBe('TWILIO_ACCOUNT_SID');
    expect(rejected({ ...SMS, TWILIO_AUTH_TOKEN: undefined }).setting).toBe('TWILIO_AUTH_TOKEN');
    expect(rejected({ ...SMS, TWILIO_FROM: '' }).setting).toBe('TWILIO_FROM');
    expect(rejected({ ...SMS, ADMIN_PHONES: '555-1234' }).setting).toBe('ADMIN_PHONES');
    expect(rejected({ ...SMS, TWILIO_API_URL: 'ftp://x' }).setting).toBe('TWILIO_API_URL');
    expect(rejected({ ALERT_LIMIT_PER_TYPE: '0' }).setting).toBe('ALERT_LIMIT_PER_TYPE');
    expect(rejected({ ALERT_RETRY_BASE: 'soon' }).setting).toBe('ALERT_RETRY_BASE');
    expect(rejected({ ALERT_RETRY_FOR: 'a while' }).setting).toBe('ALERT_RETRY_FOR');
    expect(rejected({ ALERT_RETRY_FOR: '31d' }).setting).toBe('ALERT_RETRY_FOR');
    for (const name of ['ALERT_DIGEST_INTERVAL', 'TRAFFIC_CHECK_INTERVAL', 'HEALTH_WATCH_INTERVAL']) {
      expect(rejected({ [name]: '0' }).setting).toBe(name);
      expect(rejected({ [name]: '25d' }).setting).toBe(name);
    }
    expect(rejected({ ALERT_LIMIT_WINDOW: '0s' }).setting).toBe('ALERT_LIMIT_WINDOW');
    expect(rejected({ ALERT_SESSION_WINDOW: '0ms' }).setting).toBe('ALERT_SESSION_WINDOW');
    expect(rejected({ ALERT_RULES: 'crash:fax' }).setting).toBe('ALERT_RULES');
  });

  // nodemailer took "not-an-address" as a name with no address: help alerts went out with the
  // envelope MAIL FROM:<> and no From header. Checked whenever set, as with TWILIO_API_URL.
  it('should read MAIL_FROM as an address, bare or with a name, and throw naming it otherwise', () => {
    const mail = { SMTP_URL: 'smtp://mail.example.com', ADMIN_EMAILS: 'ops@example.com' };
    for (const from of ['not-an-address', 'Chatbox', 'a@', '@example.com', 'Chatbox <not-an-address>'])
      for (const env of [{}, mail]) expect(rejected({ ...env, MAIL_FROM: from }).setting).toBe('MAIL_FROM');
    expect(rejected({ ...mail, MAIL_FROM: 'a@example.com, b@example.com' }).setting).toBe('MAIL_FROM');
    expect(rejected({ ...mail, MAIL_FROM: 'Chatbox <a@example.com> trailing' }).setting).toBe('MAIL_FROM');
    for (const from of [
      'alerts@example.com',
      'Chatbox <alerts@example.com>',
      '"Chatbox, alerts" <a@example.com>',
      // a quoted name holding a line separator (U+2028): no line break in a header, and the pattern
      // that splits name from address read across it only since fast-check found one
      '"Chatbox\u2028alerts" <a@example.com>',
      'Équipe Chatbox <a@example.com>',
      '<a@example.com>',
    ])
      expect(loadNotificationSettings({ ...mail, MAIL_FROM: from }).mail?.from).toBe(from);
    expect(loadNotificationSettings(mail).mail?.from).toBe('chatbox@localhost');
  });

  // it was checked only with SMS on, so a typo waited, unseen, for the day SMS was turned on
  it('should throw naming TWILIO_API_URL when it is not an http(s) URL, with or without SMS', () => {
    for (const env of [{}, SMS]) {
      expect(rejected({ ...env, TWILIO_API_URL: 'not-a-url' }).setting).toBe('TWILIO_API_URL');
      expect(rejected({ ...env, TWILIO_API_URL: 'ftp://proxy.example' }).setting).toBe('TWILIO_API_URL');
    }
    const error = rejected({ TWILIO_API_URL: 'https://user:hunter2@proxy.example?x=1' });
    expect(error.setting).toBe('TWILIO_API_URL');
    expect(error.message).not.toContain('hunter2');
    expect(loadNotificationSettings({ TWILIO_API_URL: 'http://127.0.0.1:9999/twilio/' }).sms).toBeUndefined();
  });

  // Twilio refuses every message from a sender it cannot send from (error 21212)
  it('should throw naming TWILIO_FROM when Twilio could not send from it', () => {
    for (const from of ['12', '555-1234', '+0123456', 'Chatbox Alerts!', 'TwelveLetter', '123456789'])
      expect(rejected({ ...SMS, TWILIO_FROM: from }).setting).toBe('TWILIO_FROM');
    for (const from of ['+15550001111', '12345', 'Chatbox', 'Chat Box 24', 'whatsapp:+15550001111'])
      expect(loadNotificationSettings({ ...SMS, TWILIO_FROM: from }).sms?.from).toBe(from);
  });

  it('should throw naming SMTP_URL, without its password, when it names no host', () => {
    for (const url of ['smtp://', 'smtps://user:hunter2@', 'smtp://user:hunter2@:587']) {
      const error = rejected({ SMTP_URL: url, ADMIN_EMAILS: 'ops@example.com' });
      expect(error.setting).toBe('SMTP_URL');
      expect(error.message).not.toContain('hunter2');
    }
  });
});

describe('parseMailFrom', () => {
  const atom = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}$/);
  const label = fc.stringMatching(/^[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?$/);
  const address = fc
    .tuple(fc.array(atom, { minLength: 1, maxLength: 3 }), fc.array(label, { minLength: 1, maxLength: 3 }))
    .map(([local, domain]) => `${local.join('.')}@${domain.join('.')}`);
  const name = fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9 .'-]{0,20}$/).map((text) => text.trim()),
    fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
      .filter((text) => !/["\\\p{Cc}]/u.test(text))
      .map((text) => `"${text}"`),
  );

  // nodemailer's own parser is the judge: what it makes of the value is the envelope's sender
  it('should accept a bare or named address and mean the address nodemailer reads from it', () => {
    fc.assert(
      fc.property(address, fc.option(name, { nil: undefined }), (mailbox, display) => {
        const raw = display ? `${display} <${mailbox}>` : mailbox;
        expect(parseMailFrom(raw)).toBe(raw);
        const parsed = addressparser(raw);
        expect(parsed).toHaveLength(1);
        expect(parsed[0]).toMatchObject({ address: mailbox });
      }),
      { numRuns: 500 },
    );
  });

  it('should either accept one address nodemailer reads as such or throw a SettingsError naming MAIL_FROM', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          address,
          address.map((text) => `x <${text}> y`),
        ),
        (raw) => {
          try {
            const from = parseMailFrom(raw);
            const parsed = addressparser(from);
            expect(parsed).toHaveLength(1);
            expect((parsed[0] as { address?: string }).address).toMatch(/^[^\s@]+@[^\s@]+$/);
          } catch (error) {
            expect(error).toBeInstanceOf(SettingsError);
            expect((error as SettingsError).setting).toBe('MAIL_FROM');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('parseSmsSender', () => {
  it('should either return the sender or throw a SettingsError naming TWILIO_FROM, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (raw) => {
        try {
          const from = parseSmsSender(raw);
          expect(from).toMatch(/^(\+[1-9]\d{5,14}|\d{3,8}|[A-Za-z0-9 ]{1,11}|[a-z]+:[^\s/]\S*)$/);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('TWILIO_FROM');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should accept every E.164 number', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[1-9]\d{5,14}$/), (digits) => {
        expect(parseSmsSender(`+${digits}`)).toBe(`+${digits}`);
      }),
    );
  });
});

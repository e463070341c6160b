import fc from 'fast-check';
import { backoffMs, gsmSeptets, oneLine, sessionLink, smsOf, subjectOf, textOf } from './alert-format';
import type { NotificationRecord } from './alert.types';
import { ALERT_EVENT_TYPES } from '../../config/notifications.settings';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// bidi controls (U+202E turns "user-1<RLO>gnp.exe" into "user-1exe.png"), zero-width characters
const FORMAT = /\p{Cf}/u;
// GSM 03.38, the 7-bit SMS alphabet: the basic set and the extension table (escape + one character)
const GSM_7 = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;

const record = fc.record({
  type: fc.constantFrom(...ALERT_EVENT_TYPES),
  user: fc.option(fc.string({ unit: 'binary', maxLength: 300 }), { nil: null }),
  session: fc.option(fc.string({ unit: 'binary', maxLength: 80 }), { nil: null }),
  details: fc.option(fc.string({ unit: 'binary', maxLength: 3000 }), { nil: null }),
  reason: fc.option(fc.string({ unit: 'binary', maxLength: 3000 }), { nil: null }),
  affected: fc.nat({ max: 10_000 }),
});

function alert(input: {
  type: NotificationRecord['type'];
  user: string | null;
  session: string | null;
  details: string | null;
  reason: string | null;
  affected: number;
}): NotificationRecord {
  return {
    id: 'a1',
    kind: 'alert',
    type: input.type,
    user_id: input.user,
    session_id: input.session,
    affected_users: input.affected,
    details: input.details,
    reason: input.reason,
    link: input.session ? sessionLink('https://chat.example.com', input.session) : null,
    at: new Date('2024-05-01T10:00:00.000Z'),
    channels: ['email'],
    sent: [],
    status: 'pending',
    attempts: 0,
    next_attempt_at: null,
    last_error: null,
    digest_id: null,
    summary: null,
  };
}

describe('alert format', () => {
  it('should make subjects and SMS one bounded line without control characters, whatever the input', () => {
    fc.assert(
      fc.property(record, (input) => {
        const item = alert(input);
        const subject = subjectOf(item);
        expect(subject).not.toMatch(CONTROL);
        expect(subject.startsWith('[chatbox] ')).toBe(true);
        const sms = smsOf(item);
        expect(sms).not.toMatch(CONTROL);
        expect(sms.length).toBeLessThanOrEqual(320);
      }),
      { numRuns: 500 },
    );
  });

  // ' · ' and '…' are not GSM-7: one of them made every alert SMS UCS-2 (70 characters a part, not
  // 160, so three times the cost), and a user id could bring any character in.
  it('should make SMS GSM-7 only and free of format characters, whatever the input', () => {
    fc.assert(
      fc.property(
        record,
        fc.constantFrom('·', '…', '\u202e', '\u200b', '\ufeff', '😀', '’', '`'),
        (input, odd) => {
          const sms = smsOf(
            alert({ ...input, user: input.user === null ? null : `${odd}${input.user}${odd}` }),
          );
          expect(sms).toMatch(GSM_7);
          expect(sms).not.toMatch(FORMAT);
          expect(gsmSeptets(sms)).toBeLessThanOrEqual(306);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should keep the SMS of an alert with a usual link within one part of 160 GSM-7 characters', () => {
    fc.assert(
      fc.property(record, fc.uuid(), (input, sessionId) => {
        const sms = smsOf(alert({ ...input, session: sessionId }));
        expect(gsmSeptets(sms)).toBeLessThanOrEqual(160);
        expect(sms).toContain(`https://chat.example.com/admin/?session=${sessionId}`);
      }),
      { numRuns: 500 },
    );
  });

  it('should separate the parts of an SMS with GSM-7 characters and keep plain user ids whole', () => {
    const sms = smsOf(
      alert({
        type: 'help_request',
        user: 'user-42',
        session: 's1',
        details: null,
        reason: null,
        affected: 1,
      }),
    );
    expect(sms).toBe('chatbox: Help requested - user user-42 - https://chat.example.com/admin/?session=s1');
  });

  it('should leave no format character in subjects or email text, whatever the input', () => {
    fc.assert(
      fc.property(record, (input) => {
        const item = alert({
          ...input,
          user: input.user === null ? null : `\u202e${input.user}`,
          session: input.session === null ? null : `\u2066${input.session}`,
        });
        expect(subjectOf(item)).not.toMatch(FORMAT);
        expect(textOf(item)).not.toMatch(FORMAT);
      }),
      { numRuns: 500 },
    );
  });

  it('should put every fact on its own line and let no value start a line of its own', () => {
    fc.assert(
      fc.property(record, (input) => {
        const text = textOf(alert(input));
        const lines = text.trimEnd().split('\n');
        const fields = lines.slice(2).filter((line) => line.length > 0);
        for (const line of fields)
          expect(line).toMatch(/^(Event|Time|User|Session|Link|Affected users|Reason|Details): /);
        expect(text).toContain(`Event: ${input.type}`);
        expect(text).toContain('Time: 2024-05-01T10:00:00.000Z');
        expect(text).toContain(`Affected users: ${input.affected}`);
        if (input.session) expect(text).toContain('Link: https://chat.example.com/admin/?session=');
      }),
      { numRuns: 500 },
    );
  });

  it('should encode the session id into the dashboard link', () => {
    expect(sessionLink('https://x.example', 'a/b?c')).toBe('https://x.example/admin/?session=a%2Fb%3Fc');
  });

  it('should count held-back alerts in a digest subject and list them by type', () => {
    const digest = {
      ...alert({ type: 'crash', user: null, session: null, details: '3 alerts', reason: null, affected: 2 }),
    };
    const item: NotificationRecord = {
      ...digest,
      kind: 'digest',
      type: 'digest',
      summary: { help_request: 2, crash: 1 },
    };
    expect(subjectOf(item)).toBe('[chatbox] Alert digest: 3 alerts held back');
    expect(textOf(item)).toContain('help_request: 2\ncrash: 1');
  });

  it('should cut long values with an ellipsis', () => {
    expect(oneLine('x'.repeat(600))).toHaveLength(500);
    expect(oneLine('a\r\nb\tc')).toBe('a b c');
    // at a whole character (the text-limits audit of session 41: U+FFFD in the admin's mail)
    expect(oneLine('😀'.repeat(600))).toBe(`${'😀'.repeat(249)}…`);
    expect(oneLine(`a${'😀'.repeat(600)}`)).toBe(`a${'😀'.repeat(249)}…`);
  });
});

describe('backoffMs', () => {
  it('should grow exponentially from the base, stay capped (before jitter) and add at most 20 %', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempts, base, max, random) => {
          const plain = Math.min(base * 2 ** Math.min(attempts - 1, 30), max);
          const delay = backoffMs(attempts, base, max, random);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(plain));
          expect(delay).toBeLessThanOrEqual(Math.ceil(plain * 1.2));
          expect(backoffMs(attempts + 1, base, max, 0)).toBeGreaterThanOrEqual(
            backoffMs(attempts, base, max, 0),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should double from the base without jitter', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffMs(attempt, 1000, 60_000, 0))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(backoffMs(20, 1000, 60_000, 0)).toBe(60_000);
  });
});

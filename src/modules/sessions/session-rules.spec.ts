import fc from 'fast-check';
import { displayNameProblem } from '../../common/display-text';
import {
  adminKeyOf,
  boundedBySessionSize,
  dedupKey,
  DEFAULT_SESSION_NAME,
  durationAsOf,
  isRestorable,
  MAX_OPEN_PERIODS,
  openMsUntil,
  reopened,
  type OpenTime,
  NAME_INPUT_CHARS,
  nameFromFirstMessage,
  keepAliveMs,
  needsTouch,
  fittedText,
} from './session-rules';

const TIMEOUT = 15 * 60 * 1000;
const NOW = new Date('2024-06-01T12:00:00.000Z');

function sessionAt(msBeforeNow: number, isActive = true): { is_active: boolean; last_activity: Date } {
  return { is_active: isActive, last_activity: new Date(NOW.getTime() - msBeforeNow) };
}

function characters(text: string): number {
  return [...text].length;
}

describe('isRestorable', () => {
  it('should be true exactly when the session is active and was used within the timeout', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: -60_000, max: 10 * TIMEOUT }),
        fc.integer({ min: 0, max: 10 * TIMEOUT }),
        (isActive, idleMs, timeoutMs) => {
          const expected = isActive && idleMs <= timeoutMs;
          expect(isRestorable(sessionAt(idleMs, isActive), NOW, timeoutMs)).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should be true when the idle time is exactly the timeout', () => {
    expect(isRestorable(sessionAt(TIMEOUT), NOW, TIMEOUT)).toBe(true);
  });

  it('should be false when the idle time is the timeout plus one millisecond', () => {
    expect(isRestorable(sessionAt(TIMEOUT + 1), NOW, TIMEOUT)).toBe(false);
  });

  it('should be false when the session has ended even if it was just used', () => {
    expect(isRestorable(sessionAt(0, false), NOW, TIMEOUT)).toBe(false);
  });

  it('should be true when the session was used just now', () => {
    expect(isRestorable(sessionAt(0), NOW, TIMEOUT)).toBe(true);
  });
});

describe('nameFromFirstMessage', () => {
  const anyText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    fc.array(fc.stringMatching(/^[a-zA-Z0-9]{1,30}$/), { maxLength: 20 }).map((words) => words.join(' ')),
  );

  it('should return a non-empty single-line name of at most 49 characters when given any text', () => {
    fc.assert(
      fc.property(anyText, (content) => {
        const name = nameFromFirstMessage(content);
        expect(name.length).toBeGreaterThan(0);
        expect(characters(name)).toBeLessThanOrEqual(49);
        expect(name).not.toMatch(/[\r\n\u2028\u2029]/);
        expect(name.trim()).toBe(name);
        // a name PATCH would take (the text-limits audit of session 41)
        expect(displayNameProblem(name)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('should take control and bidirectional control characters out, and name nothing visible by default', () => {
    expect(nameFromFirstMessage('pay\u202Egnp.exe please')).toBe('paygnp.exe please');
    expect(nameFromFirstMessage('hello\u0000world')).toBe('helloworld');
    expect(nameFromFirstMessage('\u200B\u200B\u200B')).toBe(DEFAULT_SESSION_NAME);
    expect(nameFromFirstMessage('\u2066\u202E')).toBe(DEFAULT_SESSION_NAME);
  });

  it('should return the default name when the message is blank or only markdown', () => {
    const markdownOnly = fc.stringMatching(/^[\s#*_`>~[\]()|]*$/);
    fc.assert(
      fc.property(markdownOnly, (content) => {
        expect(nameFromFirstMessage(content)).toBe(DEFAULT_SESSION_NAME);
      }),
      { numRuns: 300 },
    );
    expect(nameFromFirstMessage('')).toBe(DEFAULT_SESSION_NAME);
  });

  it('should keep every character of the words, dropping only emphasis and line marks', () => {
    expect(nameFromFirstMessage('__xss attempt')).toBe('__xss attempt');
    expect(nameFromFirstMessage('snake_case and __xss')).toBe('snake_case and __xss');
    expect(nameFromFirstMessage('# **Bold** _idea_ [link](http://x.example)')).toBe('Bold idea link');
    // marks inside words are never emphasis: such words come out as typed
    const word = fc.stringMatching(/^[a-z0-9]{1,6}([_*][a-z0-9]{1,6}){0,2}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 5 }), (words) => {
        fc.pre(words.join(' ').length <= 48);
        expect(nameFromFirstMessage(words.join(' '))).toBe(words.join(' '));
      }),
    );
    expect(nameFromFirstMessage('  \n\t ')).toBe(DEFAULT_SESSION_NAME);
    expect(nameFromFirstMessage('```\nconst x = 1;\n```')).toBe(DEFAULT_SESSION_NAME);
  });

  it('should keep a short plain message unchanged when it has at most seven words', () => {
    const shortMessage = fc
      .array(fc.stringMatching(/^[a-zA-Z0-9]{1,6}$/), { minLength: 1, maxLength: 7 })
      .map((words) => words.join(' '));
    fc.assert(
      fc.property(shortMessage, (content) => {
        expect(nameFromFirstMessage(content)).toBe(content);
      }),
    );
  });

  it("should read only a long message's beginning, past its code blocks", () => {
    // a closing mark far past the words the name takes changes nothing (read whole, it would pair
    // with the opening one); unpaired marks cost the emphasis pattern time quadratic in what it reads
    const long = `**${'word '.repeat(NAME_INPUT_CHARS / 4)}`;
    expect(nameFromFirstMessage(`${long}**`)).toBe(nameFromFirstMessage(long));
    expect(nameFromFirstMessage('*a '.repeat(10_000))).toBe(
      nameFromFirstMessage('*a '.repeat(NAME_INPUT_CHARS / 3)),
    );
    // code blocks go first, whatever their length; leading blanks do not use up the bound
    expect(nameFromFirstMessage(`\`\`\`\n${'x'.repeat(5_000)}\n\`\`\`\nDeploy to staging`)).toBe(
      'Deploy to staging',
    );
    expect(nameFromFirstMessage(`${' '.repeat(1_000)}Deploy to staging`)).toBe('Deploy to staging');
    // a cut through a pair of UTF-16 units leaves no half of it
    const astral = nameFromFirstMessage(`a${' '.repeat(NAME_INPUT_CHARS - 2)}😀😀😀`);
    expect(astral).not.toMatch(/[\uD800-\uDFFF](?![\uDC00-\uDFFF])/u);
  });

  it('should end with an ellipsis exactly when words were left out', () => {
    expect(nameFromFirstMessage('one two three four five six seven')).toBe(
      'one two three four five six seven',
    );
    expect(nameFromFirstMessage('one two three four five six seven eight')).toBe(
      'one two three four five six seven…',
    );
  });

  it('should stop before the word that would pass 48 characters when words are long', () => {
    const content = 'internationalization localization accessibility considerations';
    const name = nameFromFirstMessage(content);
    expect(name).toBe('internationalization localization accessibility…');
    expect(characters(name)).toBe(48);
  });

  it('should cut a single overlong word to 47 characters plus an ellipsis', () => {
    const name = nameFromFirstMessage('x'.repeat(100));
    expect(name).toBe(`${'x'.repeat(47)}…`);
  });

  it('should strip markdown and join lines when the message is formatted', () => {
    expect(nameFromFirstMessage('# Hello **world**\n\nhow are you?')).toBe('Hello world how are you?');
    expect(nameFromFirstMessage('> quoted `code` here')).toBe('quoted code here');
    expect(nameFromFirstMessage('Fix this:\n```ts\nconst a = 1;\n```\nplease')).toBe('Fix this: please');
  });

  it('should count an emoji as one character when measuring the name', () => {
    const emoji = '😀'.repeat(60);
    const name = nameFromFirstMessage(emoji);
    expect(characters(name)).toBe(48);
    expect(name.endsWith('…')).toBe(true);
  });
});

describe('durationAsOf', () => {
  const start = new Date(NOW.getTime() - 90_000);

  it('should be the time since the start when the session is active', () => {
    expect(durationAsOf({ is_active: true, start_time: start, duration_ms: null }, NOW)).toBe(90_000);
  });

  it('should be the stored duration when the session ended', () => {
    expect(durationAsOf({ is_active: false, start_time: start, duration_ms: 30_000 }, NOW)).toBe(30_000);
  });

  it('should be null when an ended session stored none, and never negative', () => {
    expect(durationAsOf({ is_active: false, start_time: start, duration_ms: null }, NOW)).toBeNull();
    const future = new Date(NOW.getTime() + 5_000);
    expect(durationAsOf({ is_active: true, start_time: future, duration_ms: null }, NOW)).toBe(0);
  });

  // docs/protocol.md, "Resumed sessions" (metrics audit of session 42)
  it('should count only the open periods of a session ended and resumed any number of times', () => {
    fc.assert(
      fc.property(
        // each cycle: open for `open` ms, then closed for `closed` ms
        fc.array(fc.record({ open: fc.nat(10_000), closed: fc.nat(10_000) }), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.nat(10_000),
        (cycles, openNow) => {
          let t = 1_000_000;
          let session: OpenTime & { is_active: boolean; duration_ms: number | null } = {
            start_time: new Date(t),
            is_active: true,
            duration_ms: null,
          };
          const periods: Array<[number, number]> = [];
          for (const { open, closed } of cycles) {
            const end = new Date(t + open);
            periods.push([session.resumed_at?.getTime() ?? t, end.getTime()]);
            // ended: its duration is its open time
            session = { ...session, is_active: false, duration_ms: openMsUntil(session, end) };
            t = end.getTime() + closed;
            session = {
              ...session,
              ...reopened(session, end, new Date(t)),
              is_active: true,
              duration_ms: null,
            };
          }
          const opened = cycles.reduce((sum, cycle) => sum + cycle.open, 0);
          expect(durationAsOf(session, new Date(t + openNow))).toBe(opened + openNow);
          // the last MAX_OPEN_PERIODS periods are kept, exactly; older ones only in the total
          expect(
            session.open_periods!.map((period) => [period.start.getTime(), period.end.getTime()]),
          ).toEqual(periods.slice(-MAX_OPEN_PERIODS));
        },
      ),
    );
  });

  it('should read a document without the resume fields as one period from its start', () => {
    const old = { is_active: true, start_time: new Date(NOW.getTime() - 90_000), duration_ms: null };
    expect(durationAsOf(old, NOW)).toBe(90_000);
    expect(reopened(old, new Date(NOW.getTime() - 60_000), NOW)).toEqual({
      resumed_at: NOW,
      open_ms_before: 30_000,
      open_periods: [{ start: old.start_time, end: new Date(NOW.getTime() - 60_000) }],
    });
  });
});

describe('needsTouch', () => {
  // any valid pair of settings (timers audit: SESSION_SWEEP_INTERVAL 3 s with RECONNECT_TIMEOUT 2 s
  // left a live session 3 s untouched, and another instance's sweep ended it)
  it('should keep every live session used within half the reconnect timeout, whatever the sweep interval, touching less', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 * 60_000 }),
        fc.integer({ min: 1_000, max: 60 * 60_000 }),
        // times (ms from the start) at which the session is written by its own turns
        fc.array(fc.integer({ min: 0, max: 3 * 60 * 60_000 }), { maxLength: 40 }),
        (sweepMs, reconnectMs, writes) => {
          const period = keepAliveMs({ sweepIntervalMs: sweepMs, reconnectTimeoutMs: reconnectMs });
          expect(period).toBeLessThanOrEqual(sweepMs);
          const end = Math.min(3 * 60 * 60_000, period * 20_000);
          const sorted = [...writes].sort((a, b) => a - b);
          let lastActivity = 0;
          let touches = 0;
          // the longest a session went unused, at any keep-alive, before and after it (one expect for
          // all of them: one per keep-alive made this the slowest unit test, 40 s)
          let longest = 0;
          for (let at = period; at <= end; at += period) {
            while (sorted.length > 0 && sorted[0] <= at) lastActivity = sorted.shift()!;
            // the worst moment: right before this keep-alive
            longest = Math.max(longest, at - lastActivity);
            if (needsTouch(lastActivity, at, period, reconnectMs)) {
              lastActivity = at;
              touches++;
            }
            longest = Math.max(longest, at - lastActivity);
          }
          expect(longest).toBeLessThanOrEqual(reconnectMs / 2);
          // never more touches than one per keep-alive
          expect(touches).toBeLessThanOrEqual(Math.floor(end / period));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should keep alive at each sweep with the default settings, and more often for a short reconnect timeout', () => {
    expect(keepAliveMs({ sweepIntervalMs: 60_000, reconnectTimeoutMs: 15 * 60_000 })).toBe(60_000);
    expect(keepAliveMs({ sweepIntervalMs: 3_000, reconnectTimeoutMs: 2_000 })).toBe(500);
    expect(keepAliveMs({ sweepIntervalMs: 100, reconnectTimeoutMs: 2_000 })).toBe(100);
  });

  it('should skip a session written within the last sweep interval, with the default settings', () => {
    const sweep = 60_000;
    expect(needsTouch(NOW.getTime() - 59_000, NOW.getTime(), sweep, TIMEOUT)).toBe(false);
    expect(needsTouch(NOW.getTime() - 60_000, NOW.getTime(), sweep, TIMEOUT)).toBe(true);
    expect(needsTouch(undefined, NOW.getTime(), sweep, TIMEOUT)).toBe(true);
  });

  it('should touch at every sweep when the sweep interval is a large part of the reconnect timeout', () => {
    expect(needsTouch(NOW.getTime() - 1, NOW.getTime(), 5 * 60_000, 10 * 60_000)).toBe(true);
  });
});

describe('dedupKey', () => {
  it('should key what a client sent, and the system answer to a help request, by sender and client_id', () => {
    expect(dedupKey({ sender: 'user', client_id: 'c1' })).toBe('user:c1');
    expect(dedupKey({ sender: 'admin', client_id: 'c1' })).toBe('admin:c1');
    // a resend of a help request answers it again without storing the answer twice
    expect(dedupKey({ sender: 'system', client_id: 'c1' })).toBe('system:c1');
  });

  // two admins taking one session in turn, each counting client_ids from 1
  it("should key an admin's message by its admin: two admins' same client_id are two messages", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        (a, b, id) => {
          fc.pre(a !== b);
          const of = (admin: string) =>
            dedupKey({ sender: 'admin', client_id: id, metadata: { admin_key: adminKeyOf(admin) } });
          expect(of(a)).not.toBe(of(b));
          expect(of(a)).toBe(of(a));
        },
      ),
    );
  });

  it('should key no reply (replies echo the client_id of what caused them) and nothing without client_id', () => {
    expect(dedupKey({ sender: 'ai', client_id: 'c1' })).toBeUndefined();
    expect(dedupKey({ sender: 'user' })).toBeUndefined();
    expect(dedupKey({ sender: 'system', client_id: '' })).toBeUndefined();
  });

  // a takeover's events change the session's mirror: one taken for a copy would leave it as it was
  // (TakeoverService answers a resent admin_join / admin_leave with its stored copy first)
  it("should key no admin_join or admin_leave, whatever client_id the admin's frame gave it", () => {
    fc.assert(
      fc.property(fc.constantFrom('admin_join', 'admin_leave'), fc.string({ minLength: 1 }), (type, id) => {
        const metadata = { admin_key: adminKeyOf('ada') };
        expect(dedupKey({ type, sender: 'admin', client_id: id, metadata })).toBeUndefined();
        expect(dedupKey({ type: 'user_message', sender: 'admin', client_id: id, metadata })).toBeDefined();
      }),
    );
  });
});

// docs/protocol.md, "Every acked turn ends": what a user or an admin sends is held to
// MAX_SESSION_BYTES, the reply of a turn acked before only to the store's bound, cut to fit there
describe('boundedBySessionSize', () => {
  it('should hold what users and admins send to MAX_SESSION_BYTES, and not replies or system events', () => {
    expect(['user', 'admin', 'ai', 'system'].map((sender) => boundedBySessionSize({ sender }))).toEqual([
      true,
      true,
      false,
      false,
    ]);
    // a regenerated reply: the regenerate was held to the bound before the model was asked
    // (TurnVersionsService), its reply only to the store's
    const regenerated = { sender: 'ai', metadata: { alternative_of: 'r1' } };
    expect(boundedBySessionSize(regenerated)).toBe(false);
    // a user's choice of an alternative is what the user adds
    const chosen = { sender: 'user', metadata: { alternative_of: 'r1' } };
    expect(boundedBySessionSize(chosen)).toBe(true);
  });
});

describe('fittedText', () => {
  const utf8 = (text: string) => 10 + Buffer.byteLength(text);

  it('should keep the longest start that fits, never half a surrogate pair', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.nat(300), (text, room) => {
        const cut = fittedText(text, room, utf8);
        if (room < 10) return expect(cut).toBeUndefined();
        expect(text.startsWith(cut!)).toBe(true);
        expect(utf8(cut!)).toBeLessThanOrEqual(room);
        expect(/[\uD800-\uDBFF]$/.test(cut!)).toBe(false);
        // one more code point would not fit
        const next = [...text.slice(cut!.length)][0];
        if (next !== undefined) expect(utf8(cut! + next)).toBeGreaterThan(room);
      }),
    );
  });

  it('should cut before an emoji that does not fit whole', () => {
    expect(fittedText('ab🙂c', 10 + 2 + 3, utf8)).toBe('ab');
    expect(fittedText('ab🙂c', 10 + 2 + 4, utf8)).toBe('ab🙂');
  });
});

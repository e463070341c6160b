import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SessionCopies } from './session-copies';
import { MAX_CLOCK_AHEAD_MS, SessionLog, stampAfter } from './session-log';
import type { AppendResult, MessageRecord, SessionWithMessages } from './session.types';
import type { SessionsRepository } from './sessions.repository';

// AppendOptions.precondition: checked on the log the append extends, under the session lock. A copy
// this instance holds that another instance's append made old fails the compare-and-set, and the
// rule is asked again on the store's log (docs/protocol.md, "Versions": an edit of m1 racing m2).
describe('SessionLog precondition', () => {
  const message = (seq: number, id: string): MessageRecord => ({
    id,
    seq,
    type: 'user_message',
    sender: 'user',
    client_id: id,
    content: id,
    timestamp: new Date(),
  });
  const session = (messages: MessageRecord[]): SessionWithMessages =>
    ({
      id: 's',
      user_id: 'u',
      name: 'x',
      model_id: 'm',
      seq: messages.length,
      assisting_admin_id: null,
      last_activity: new Date(),
      messages,
    }) as unknown as SessionWithMessages;

  it('should refuse the append when the log moved on another instance since the copy held here', async () => {
    const copies = new SessionCopies();
    // this instance's copy: m1 and its reply; the store has m2 too (another instance's append)
    const held = session([message(1, 'm1'), { ...message(2, 'r1'), type: 'ai_response', sender: 'ai' }]);
    const stored = session([...held.messages, message(3, 'm2')]);
    copies.seqCache.set('s', 2);
    copies.snapshots.set('s', held);
    const appended: number[] = [];
    const repository = {
      append: jest.fn(async (_id: string, expected: number): Promise<AppendResult> => {
        appended.push(expected);
        return { status: 'conflict', currentSeq: 3 };
      }),
      findOwnedWithMessages: jest.fn(async () => stored),
      seqOf: jest.fn(async () => 3),
    } as unknown as SessionsRepository;
    const log = new SessionLog(repository, { maxSessionBytes: 1e9 }, copies, (_id, task) => task());
    const seen: string[][] = [];
    const append = log.append(
      's',
      { type: 'user_message', sender: 'user', client_id: 'v', content: 'edit' },
      undefined,
      {
        owner: 'u',
        precondition: (messages) => {
          seen.push(messages.map((event) => event.id));
          if (messages.at(-1)?.id !== 'r1') throw new DomainException(ErrorCode.INVALID_MESSAGE, 'moved');
        },
      },
    );
    await expect(append).rejects.toThrow('moved');
    // asked on the copy (its append failed the compare-and-set), then on the store's log: refused
    expect(seen).toEqual([
      ['m1', 'r1'],
      ['m1', 'r1', 'm2'],
    ]);
    expect(appended).toEqual([2]);
  });

  // A rule refused on the copy this instance holds is asked again on the store's log: the copy's seq
  // is this instance's own last one, and another instance may have appended since. Until the library
  // audit the refusal stood: the edit of the last message, stored by the other instance, was refused
  // "Only your last message can be edited." (4 of 4).
  it("should ask a rule the held copy refuses again on the store's log before refusing", async () => {
    const copies = new SessionCopies();
    const held = session([message(1, 'm1'), { ...message(2, 'r1'), type: 'ai_response', sender: 'ai' }]);
    const stored = session([...held.messages, message(3, 'm2')]);
    copies.seqCache.set('s', 2);
    copies.snapshots.set('s', held);
    const appended: number[] = [];
    const repository = {
      append: jest.fn(async (_id: string, expected: number, full: MessageRecord): Promise<AppendResult> => {
        appended.push(expected);
        return { status: 'stored', message: { ...full, seq: expected + 1 } } as AppendResult;
      }),
      findOwnedWithMessages: jest.fn(async () => stored),
      seqOf: jest.fn(async () => 3),
    } as unknown as SessionsRepository;
    const log = new SessionLog(repository, { maxSessionBytes: 1e9 }, copies, (_id, task) => task());
    const seen: string[][] = [];
    const rule = (messages: MessageRecord[]) => {
      seen.push(messages.map((event) => event.id));
      if (messages.at(-1)?.id !== 'm2') throw new DomainException(ErrorCode.INVALID_MESSAGE, 'not last');
    };
    const result = await log.append(
      's',
      { type: 'user_message', sender: 'user', client_id: 'v', content: 'edit' },
      undefined,
      { owner: 'u', precondition: rule },
    );
    expect(result.message.seq).toBe(4);
    expect(seen).toEqual([
      ['m1', 'r1'],
      ['m1', 'r1', 'm2'],
    ]);
    expect(appended).toEqual([3]);
    // the store's own log refuses for good: asked once, nothing stored
    copies.seqCache.delete('s');
    copies.snapshots.delete('s');
    seen.length = 0;
    const refused = log.append(
      's',
      { type: 'user_message', sender: 'user', client_id: 'w', content: 'edit' },
      undefined,
      {
        owner: 'u',
        precondition: (messages) => {
          seen.push(messages.map((event) => event.id));
          throw new DomainException(ErrorCode.INVALID_MESSAGE, 'refused');
        },
      },
    );
    await expect(refused).rejects.toThrow('refused');
    expect(seen).toEqual([['m1', 'r1', 'm2']]);
    expect(appended).toEqual([3]);
  });
});

// docs/protocol.md, "Session library": a message is stamped by the write that stores it, never before
// the session's last activity, so seq order is time order. Until the search/history audit of session
// 42 it was stamped on arrival, before it waited for the lock behind the other instance's appends.
describe('SessionLog stamps', () => {
  const held = (lastActivity: Date): SessionWithMessages =>
    ({
      id: 's',
      user_id: 'u',
      name: 'x',
      model_id: 'm',
      seq: 1,
      assisting_admin_id: null,
      last_activity: lastActivity,
      messages: [],
    }) as unknown as SessionWithMessages;

  it('should stamp each attempt at its write, after the last activity a refused write found', async () => {
    const copies = new SessionCopies();
    copies.seqCache.set('s', 1);
    copies.snapshots.set('s', held(new Date(Date.now() - 60_000)));
    const ahead = new Date(Date.now() + 5_000);
    const stamps: Array<[number, Date]> = [];
    const repository = {
      append: jest.fn(async (_id: string, expected: number, full: MessageRecord): Promise<AppendResult> => {
        stamps.push([expected, full.timestamp]);
        // the first: another instance stored seq 2 with a clock 5 s ahead
        if (stamps.length === 1) return { status: 'conflict', currentSeq: 2, lastActivity: ahead };
        return { status: 'stored', message: { ...full, seq: expected + 1 } } as AppendResult;
      }),
    } as unknown as SessionsRepository;
    const log = new SessionLog(repository, { maxSessionBytes: 1e9 }, copies, (_id, task) => task());
    const before = Date.now();
    const result = await log.append('s', {
      type: 'user_message',
      sender: 'user',
      content: 'hi',
    });
    expect(stamps.map(([expected]) => expected)).toEqual([1, 2]);
    // the first attempt's time is its own, the second not before the later activity
    expect(stamps[0][1].getTime()).toBeGreaterThanOrEqual(before);
    expect(stamps[1][1].getTime()).toBe(ahead.getTime());
    expect(result.message.timestamp).toEqual(ahead);
  });

  it("should never stamp before now, nor before the session's last activity within a clock's skew, nor past that skew", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e10, max: 1e10 }), fc.integer({ min: -1e10, max: 1e10 }), (a, b) => {
        const now = Date.now();
        const stamp = stampAfter(now + a, held(new Date(now + b)), now).getTime();
        const after = Math.max(now + a, now + b);
        expect(stamp).toBe(Math.max(now, Math.min(after, now + MAX_CLOCK_AHEAD_MS)));
        expect(stamp - now).toBeLessThanOrEqual(MAX_CLOCK_AHEAD_MS);
      }),
    );
  });
});

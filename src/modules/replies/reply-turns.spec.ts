import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { MessageRecord, WrittenSession } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import { ReplyHolds } from './reply-holds';
import { ReplyTurns } from './reply-turns';

const turn = (seq: number, clientId: string): MessageRecord => ({
  id: `u${seq}`,
  seq,
  type: 'user_message',
  sender: 'user',
  client_id: clientId,
  content: clientId,
  timestamp: new Date(0),
});
const reply = (seq: number, to: MessageRecord): MessageRecord => ({
  id: `a${seq}`,
  seq,
  type: 'ai_response',
  sender: 'ai',
  client_id: to.client_id,
  content: 'a',
  timestamp: new Date(0),
  metadata: { reply_to: to.id },
});

describe(ReplyTurns.name, () => {
  // Redis's view of the session's lease: the instances holding it
  let holders: Set<string>;
  let log: MessageRecord[];
  let turns: ReplyTurns;
  let holds: ReplyHolds;
  // this instance's last seq of the session (its own writes); undefined: the log's length
  let cachedSeq: number | undefined;

  beforeEach(() => {
    holders = new Set();
    log = [];
    cachedSeq = undefined;
    const leases = {
      hold: () => {
        holders.add('here');
        return () => holders.delete('here');
      },
      answeringElsewhere: () => Promise.resolve([...holders].some((holder) => holder !== 'here')),
      claim: () => {
        if (holders.size > 0) return Promise.resolve(false);
        holders.add('here');
        return Promise.resolve(true);
      },
    } as unknown as ReplyLeases;
    const sessions = {
      lastSeq: () => cachedSeq ?? log.length,
      messagesAfter: () => Promise.resolve([...log]),
    } as unknown as SessionsService;
    holds = new ReplyHolds(leases, () => true);
    turns = new ReplyTurns(sessions, leases, holds);
  });

  const request = (seq: number, written?: WrittenSession) => ({
    sessionId: 's',
    userId: 'u',
    modelId: 'm',
    clientId: log.find((message) => message.seq === seq)?.client_id,
    turnSeq: seq,
    written,
  });

  it('should answer the open turns before its own first, in order, each with its client_id', async () => {
    const [m1, m2, m3] = [turn(1, 'm1'), turn(2, 'm2'), turn(3, 'm3')];
    log.push(m1, m2, m3);
    const planned = await turns.inTurn(request(3));
    expect(planned.map((entry) => [entry.turnSeq, entry.clientId])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
    ]);
  });

  it('should answer nothing when its turn was answered meanwhile, and skip a turn that failed here', async () => {
    const [m1, m2, m3] = [turn(1, 'm1'), turn(2, 'm2'), turn(3, 'm3')];
    log.push(m1, m2, m3, reply(4, m2));
    expect(await turns.inTurn(request(2))).toEqual([]);
    log.push(turn(5, 'm5'), turn(6, 'm6'));
    turns.failed('s', 5);
    // m3 is still open (m2's reply answers m1 and m2 only); m5 failed here
    expect((await turns.inTurn(request(6))).map((entry) => entry.turnSeq)).toEqual([3, 6]);
    expect(turns.orphans('s', log.slice(0, 5))).toBe(true);
    turns.failed('s', 3);
    expect(turns.orphans('s', log.slice(0, 5))).toBe(false);
  });

  it('should not answer again a turn an admin left unanswered once the user wrote after the takeover', async () => {
    const during = turn(2, 'during');
    log.push(
      { ...turn(1, 'x'), type: 'admin_join', sender: 'admin', content: undefined },
      during,
      { ...turn(3, 'y'), type: 'admin_leave', sender: 'admin', content: undefined },
      turn(4, 'after'),
    );
    expect((await turns.inTurn(request(4))).map((entry) => entry.clientId)).toEqual(['after']);
  });

  it('should wait while another instance holds the lease, not holding it meanwhile, then take it', async () => {
    log.push(turn(1, 'm1'), turn(2, 'm2'));
    holders.add('there');
    holds.add('s');
    const planned = turns.inTurn(request(2));
    await new Promise((resolve) => setTimeout(resolve, 120));
    // waiting: only the other instance holds it
    expect([...holders]).toEqual(['there']);
    // the other instance stores m1's reply and lets go
    log.push(reply(3, log[0]));
    holders.delete('there');
    expect((await planned).map((entry) => entry.turnSeq)).toEqual([2]);
    expect([...holders]).toEqual(['here']);
  });

  // a reply may stream for minutes (LLM_REPLY_TIMEOUT, 5 min by default), and the other instance
  // may have turns queued behind it: until session 34 a request ran after 120 s of waiting, beside
  // the reply still streaming there
  it('should keep waiting while the other instance holds the lease for many minutes', async () => {
    jest.useFakeTimers();
    try {
      log.push(turn(1, 'm1'), turn(2, 'm2'));
      holders.add('there');
      holds.add('s');
      let settled = false;
      const planned = turns.inTurn(request(2)).finally(() => (settled = true));
      await jest.advanceTimersByTimeAsync(20 * 60_000);
      expect({ settled, holders: [...holders] }).toEqual({ settled: false, holders: ['there'] });
      log.push(reply(3, log[0]));
      holders.delete('there');
      await jest.advanceTimersByTimeAsync(100);
      expect((await planned).map((entry) => entry.turnSeq)).toEqual([2]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should read the store for a turn queued behind a wait: the other instance answered turns meanwhile', async () => {
    const [m1, m2] = [turn(1, 'm1'), turn(2, 'm2')];
    log.push(m1);
    holders.add('there');
    // m1's request waits for the other instance's reply
    holds.add('s');
    const first = turns.inTurn(request(1), holds.waitsEnded('s'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    // m2 is stored here (its append's log: m1 and m2 open), and asked for behind m1's request
    log.push(m2);
    cachedSeq = 2;
    const written = { id: 's', seq: 2, messages: [m1, m2] } as unknown as WrittenSession;
    holds.add('s');
    const waitsBefore = holds.waitsEnded('s');
    // the other instance answers m1 and m2 (a later turn of its own) and lets go; this instance's
    // last seq still says 2
    log.push(reply(3, m1), reply(4, m2));
    holders.delete('there');
    expect(await first).toEqual([]);
    holds.done('s');
    // nothing holds the lease now: m2's request did not wait itself, but its log is stale
    expect(await turns.inTurn(request(2, written), waitsBefore)).toEqual([]);
  });

  it("should read the store when, with other instances, its seq moved past the request's append (nothing to wait for)", async () => {
    const [m1, m2] = [turn(1, 'm1'), turn(2, 'm2')];
    const shared = {
      shared: true,
      hold: () => () => undefined,
      answeringElsewhere: () => Promise.resolve(false),
      claim: () => Promise.resolve(true),
    } as unknown as ReplyLeases;
    // m2's append wrote seq 2 here; the other instance stored both replies since and let its lease go
    log.push(m1, m2, reply(3, m1), reply(4, m2));
    const sessions = {
      lastSeq: () => 2,
      storedSeq: () => Promise.resolve(log.length),
      messagesAfter: () => Promise.resolve([...log]),
    } as unknown as SessionsService;
    const here = new ReplyTurns(sessions, shared, new ReplyHolds(shared, () => true));
    const written = { id: 's', seq: 2, messages: [m1, m2] } as unknown as WrittenSession;
    expect(await here.inTurn(request(2, written))).toEqual([]);
    // one instance (no shared lease): the append's log is the session's, no read
    const alone = new ReplyTurns(
      { ...sessions, storedSeq: () => Promise.reject(new Error('not read')) } as unknown as SessionsService,
      { ...shared, shared: false } as ReplyLeases,
      holds,
    );
    log.length = 2;
    expect((await alone.inTurn(request(2, written))).map((entry) => entry.turnSeq)).toEqual([1, 2]);
  });
  // Redis away past 10 s (docs/protocol.md, "Every acked turn ends", one at a time): until the Redis
  // away audit a request of the other device's turn answered the turn streaming on the first
  // instance again (test/e2e/turns-redis-away.e2e-spec.ts)
  describe('with Redis away past the wait', () => {
    let away: boolean;
    let here: ReplyTurns;

    beforeEach(() => {
      away = true;
      const leases = {
        get away() {
          return away;
        },
        hold: () => () => undefined,
        answeringElsewhere: (_session: string, waitForRedis = false) =>
          Promise.resolve(away ? waitForRedis : [...holders].some((holder) => holder !== 'here')),
        claim: () => Promise.resolve(!away && holders.size === 0),
      } as unknown as ReplyLeases;
      const sessions = {
        lastSeq: () => log.length,
        storedSeq: () => Promise.resolve(log.length),
        messagesAfter: () => Promise.resolve([...log]),
      } as unknown as SessionsService;
      here = new ReplyTurns(sessions, leases, new ReplyHolds(leases, () => true));
    });

    const settledAfter = async (planned: Promise<unknown>, ms: number) => {
      let settled = false;
      void planned.finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, ms));
      return settled;
    };

    it('should answer its own turn at once when it was asked here and no turn before it is open', async () => {
      const m1 = turn(1, 'm1');
      log.push(m1, reply(2, m1), turn(3, 'm3'));
      const planned = await here.inTurn({ ...request(3), askedHere: true });
      expect(planned.map((entry) => entry.turnSeq)).toEqual([3]);
    });

    it('should wait for Redis, not answer a turn before its own, when that turn is open', async () => {
      log.push(turn(1, 'm1'), turn(2, 'm2'));
      const planned = here.inTurn({ ...request(2), askedHere: true });
      expect(await settledAfter(planned, 150)).toBe(false);
      // Redis back: the other instance still streams m1's reply, then stores it and lets go
      holders.add('there');
      away = false;
      expect(await settledAfter(planned, 150)).toBe(false);
      log.push(reply(3, log[0]));
      holders.delete('there');
      expect((await planned).map((entry) => entry.turnSeq)).toEqual([2]);
    });

    it("should wait for Redis for a turn it was not asked here (a turn watch's)", async () => {
      log.push(turn(1, 'm1'));
      const planned = here.inTurn(request(1));
      expect(await settledAfter(planned, 150)).toBe(false);
      away = false;
      expect((await planned).map((entry) => entry.turnSeq)).toEqual([1]);
    });

    // a regenerate is stored only with its reply: a copy sent again to the other instance runs there
    // unseen, so this one waits for Redis, then finds that copy's reply and asks nothing
    it('should wait for Redis for a regenerate asked here, then stand down for the copy stored elsewhere', async () => {
      const m1 = turn(1, 'm1');
      log.push(m1, reply(2, m1));
      const regenerate = { sessionId: 's', userId: 'u', modelId: 'm', clientId: 'r1', alternativeOf: 'a2' };
      const planned = here.inTurn({ ...regenerate, askedHere: true });
      expect(await settledAfter(planned, 150)).toBe(false);
      log.push({ ...reply(3, m1), client_id: 'r1', metadata: { reply_to: m1.id, alternative_of: 'a2' } });
      away = false;
      expect(await planned).toEqual([]);
    });
  });
});

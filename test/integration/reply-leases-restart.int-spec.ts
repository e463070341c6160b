import { randomUUID } from 'node:crypto';
import { RedisReplyLeases } from '../../src/infra/lock/reply-lease';
import { RedisServer } from '../helpers/redis-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Reply leases while their Redis dies, comes back empty, or stops answering (docs/protocol.md,
// "Every acked turn ends", one at a time). A lease lost with Redis read as nobody answering: another
// instance's turn watch answered a turn whose reply still streamed (the CI chaos run of session 33).
describe('reply leases across a Redis restart and freeze (a Redis of its own)', () => {
  jest.setTimeout(30_000);
  // renewals every 1 s, recovery 1 s after a reconnect
  const ttlMs = 3_000;
  let redis: RedisServer;
  const leases: RedisReplyLeases[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    redis?.signal('SIGCONT');
    for (const lease of leases) await lease.close();
    await redis?.kill();
  });

  async function instance(name: string, awayRunMs?: number): Promise<RedisReplyLeases> {
    const lease = new RedisReplyLeases(redis.url, `${name}-${randomUUID()}`, { ttlMs, awayRunMs });
    leases.push(lease);
    await until(async () => !(await lease.held(randomUUID())));
    return lease;
  }

  async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('not within time');
      await sleep(20);
    }
  }

  it('should read a hold lost with Redis as held until its holder holds again, and never let it be claimed meanwhile', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const session = randomUUID();
    const release = a.hold(session);
    await until(() => b.answeringElsewhere(session));
    await redis.kill();
    // away: the other waits, it does not run
    expect(await b.answeringElsewhere(session)).toBe(true);
    expect(await b.claim(session)).toBe(false);
    expect(await b.held(session)).toBe(true);
    await redis.restart();
    // from the moment b can read the empty Redis until a holds again: still a's
    const seen: boolean[] = [];
    const claims: boolean[] = [];
    const deadline = Date.now() + 2_500;
    while (Date.now() < deadline) {
      seen.push(await b.answeringElsewhere(session));
      claims.push(await b.claim(session));
      await sleep(25);
    }
    expect({ released: seen.includes(false), claimed: claims.includes(true) }).toEqual({
      released: false,
      claimed: false,
    });
    // a held again on reconnecting, before its next renewal would have
    expect(await b.heldElsewhere(session)).toBe(true);
    release();
    await until(async () => !(await b.answeringElsewhere(session)));
    expect(await b.claim(session)).toBe(true);
  });

  it('should wait for a Redis that does not answer, and run once it has been away for awayRunMs', async () => {
    const b = await instance('b', 2_500);
    const session = randomUUID();
    redis.signal('SIGSTOP');
    try {
      // each read waits out the command timeout (2 s): the first one failed, the wait begins
      expect(await b.answeringElsewhere(session)).toBe(true);
      expect({ away: b.away, outage: b.outage }).toEqual({ away: true, outage: false });
      const started = Date.now();
      let answer = true;
      while (answer && Date.now() - started < 8_000) answer = await b.answeringElsewhere(session);
      expect(answer).toBe(false);
      // what never runs without Redis is refused from now on (a regenerate)
      expect(b.outage).toBe(true);
    } finally {
      redis.signal('SIGCONT');
    }
    await until(async () => !(await b.held(session)));
    expect({ away: b.away, outage: b.outage }).toEqual({ away: false, outage: false });
  });

  it('should hold a session held twice by one instance until both let go', async () => {
    const a = await instance('a');
    const b = await instance('b');
    const session = randomUUID();
    const first = a.hold(session);
    const second = a.hold(session);
    await until(() => b.heldElsewhere(session));
    first();
    first();
    await sleep(100);
    expect(await b.heldElsewhere(session)).toBe(true);
    second();
    await until(async () => !(await b.heldElsewhere(session)));
  });
});

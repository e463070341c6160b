import { randomUUID } from 'node:crypto';
import { RedisReplyLeases } from '../../src/infra/lock/reply-lease';

const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (check: () => Promise<boolean>): Promise<void> => {
  for (const deadline = Date.now() + 5_000; !(await check()); await sleep(10))
    if (Date.now() > deadline) throw new Error('not seen within 5 s');
};

// "Some instance is answering session S" (docs/protocol.md, "Every acked turn ends", "Takeover
// handoff"), against a real Redis: two instances may answer one session at once (the turn watch of
// one and the takeover's end on the other), and one letting go must not read as nobody answering.
describe('reply leases across instances (Redis)', () => {
  const ttlMs = 300;
  let a: RedisReplyLeases;
  let b: RedisReplyLeases;

  beforeAll(async () => {
    a = new RedisReplyLeases(REDIS, 'instance-a', { ttlMs });
    b = new RedisReplyLeases(REDIS, 'instance-b', { ttlMs });
    // both connected before the timed steps: a hold is sent without waiting, and one still waiting
    // for its connection (CI, under load) landed after the step that reads it
    await Promise.all([a.held(randomUUID()), b.held(randomUUID())]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('should stay held while another instance still answers, whatever renewed last', async () => {
    // leases of their own with a longer ttl, and each step waits for what it needs to have landed
    // (with fixed 60/70 ms steps on a 300 ms ttl, a loaded CI machine landed b's hold late)
    const slowTtl = 1_500;
    const slowA = new RedisReplyLeases(REDIS, 'instance-a', { ttlMs: slowTtl });
    const slowB = new RedisReplyLeases(REDIS, 'instance-b', { ttlMs: slowTtl });
    try {
      const session = randomUUID();
      const releaseA = slowA.hold(session);
      await until(() => slowB.heldElsewhere(session));
      const releaseB = slowB.hold(session);
      await until(() => slowA.heldElsewhere(session));
      // a renews every ttl/3: once at least after b's hold, and a single key then named a alone
      await sleep(slowTtl / 3 + 100);
      releaseA();
      await sleep(5);
      expect(await slowA.held(session)).toBe(true);
      expect(await slowB.claim(session)).toBe(false);
      releaseB();
      await sleep(30);
      expect(await slowA.held(session)).toBe(false);
    } finally {
      await slowA.close();
      await slowB.close();
    }
  });

  // a takeover's start waits for the replies other instances still store; its own instance's
  // queued replies are its own to judge (ReplyService.settled)
  it("should tell another instance's hold from this instance's own", async () => {
    const session = randomUUID();
    const releaseA = a.hold(session);
    await sleep(20);
    expect(await a.held(session)).toBe(true);
    expect(await a.heldElsewhere(session)).toBe(false);
    expect(await b.heldElsewhere(session)).toBe(true);
    const releaseB = b.hold(session);
    await sleep(20);
    expect(await a.heldElsewhere(session)).toBe(true);
    releaseA();
    await sleep(20);
    expect(await b.heldElsewhere(session)).toBe(false);
    expect(await a.heldElsewhere(session)).toBe(true);
    releaseB();
    await sleep(20);
    expect(await a.heldElsewhere(session)).toBe(false);
  });

  it('should let a lease lapse once its instance stops renewing it, and then be claimed once', async () => {
    const session = randomUUID();
    expect(await a.held(session)).toBe(false);
    expect(await a.claim(session)).toBe(true);
    expect(await a.held(session)).toBe(true);
    expect(await b.claim(session)).toBe(false);
    // a claim is not renewed: its instance answers and holds the lease with hold() meanwhile
    await sleep(ttlMs + 100);
    expect(await b.held(session)).toBe(false);
    const claims = await Promise.all([a.claim(session), b.claim(session), a.claim(session)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  it('should keep a held lease past its ttl while the instance renews it', async () => {
    const session = randomUUID();
    const release = a.hold(session);
    await sleep(ttlMs * 3);
    expect(await b.held(session)).toBe(true);
    release();
    await sleep(30);
    expect(await b.held(session)).toBe(false);
  });
});

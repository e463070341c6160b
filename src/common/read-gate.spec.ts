import fc from 'fast-check';
import { DomainException } from './errors/domain.exception';
import { ErrorCode } from './errors/error-code';
import { ReadGate } from './read-gate';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ReadGate', () => {
  it('should run one read per user, at most atOnce in all, hand a freed place to the next user waiting, and refuse past the per-user wait', async () => {
    const gate = new ReadGate(2, 1);
    const a1 = await gate.enter('a');
    const started: string[] = [];
    const a2 = gate.enter('a').then((release) => (started.push('a2'), release));
    await expect(gate.enter('a')).rejects.toMatchObject({
      code: ErrorCode.RATE_LIMITED,
      details: { retryAfterMs: 1000 },
    });
    const b1 = await gate.enter('b');
    const c1 = gate.enter('c').then((release) => (started.push('c1'), release));
    expect([gate.active, gate.waiting]).toEqual([2, 2]);
    // b's place goes to c (a has one running), a's to a's next
    b1();
    await tick();
    expect(started).toEqual(['c1']);
    a1();
    a1();
    await tick();
    expect(started).toEqual(['c1', 'a2']);
    (await a2)();
    (await c1)();
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('should let a caller wait past the per-user bound when it says so', async () => {
    const gate = new ReadGate(1, 0);
    const first = await gate.enter('a');
    const second = gate.enter('a', Infinity);
    first();
    (await second)();
    expect(gate.active).toBe(0);
  });

  // a model of places: the gate admits, refuses and hands over exactly as it says, and no read
  // waits while a place is free for its user
  it('should keep its bounds and never leave a read waiting that could run', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('enter' as const), user: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(step),
        async (atOnce, perUser, steps) => {
          const gate = new ReadGate(atOnce, perUser);
          const running: Array<{ user: string; release: () => void }> = [];
          const waiting: string[] = [];
          for (const item of steps) {
            if (item.kind === 'enter') {
              const held = running.filter((read) => read.user === item.user).length;
              const queued = waiting.filter((user) => user === item.user).length;
              void gate.enter(item.user).then(
                (release) => {
                  waiting.splice(waiting.indexOf(item.user), 1);
                  running.push({ user: item.user, release });
                },
                (error: unknown) => {
                  expect(error).toBeInstanceOf(DomainException);
                  expect(held === 0 && running.length < atOnce).toBe(false);
                  expect(queued).toBeGreaterThanOrEqual(perUser);
                  waiting.splice(waiting.indexOf(item.user), 1);
                },
              );
              waiting.push(item.user);
              await tick();
            } else if (running.length > 0) {
              const [read] = running.splice(item.pick % running.length, 1);
              read.release();
              await tick();
            }
            expect(running.length).toBeLessThanOrEqual(atOnce);
            expect(gate.active).toBe(running.length);
            expect(gate.waiting).toBe(waiting.length);
            for (const user of ['a', 'b', 'c'])
              expect(running.filter((read) => read.user === user).length).toBeLessThanOrEqual(1);
            // work-conserving: with a place free, nobody waits whose user has none running
            if (running.length < atOnce)
              for (const user of waiting) expect(running.some((read) => read.user === user)).toBe(true);
          }
          for (const read of running.splice(0)) read.release();
        },
      ),
    );
  });
});

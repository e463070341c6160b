import fc from 'fast-check';
import { of, lastValueFrom } from 'rxjs';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { OwnLine, REQUESTS_WAITING_PER_USER, UserRequests } from './user-requests';

function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// a request that runs until told to end
function request(log: { running: Map<string, number>; peak: Map<string, number> }, userId: string) {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const task = async () => {
    const now = (log.running.get(userId) ?? 0) + 1;
    log.running.set(userId, now);
    log.peak.set(userId, Math.max(log.peak.get(userId) ?? 0, now));
    await ended;
    log.running.set(userId, (log.running.get(userId) ?? 1) - 1);
    return userId;
  };
  return { task, end: () => end() };
}

class Routes {
  plain(): void {}
  @OwnLine()
  wholeSession(): void {}
}

describe(UserRequests.name, () => {
  it("should run a user's requests a few at once, queue more, refuse past the line, and leave other users alone", async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 2, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const log = { running: new Map<string, number>(), peak: new Map<string, number>() };
    const flood = Array.from({ length: 2 + REQUESTS_WAITING_PER_USER + 5 }, () => request(log, 'mallory'));
    const answers = flood.map(({ task }) => gate.run('mallory', task).catch((error: unknown) => error));
    await flush();
    expect(log.running.get('mallory')).toBe(2);
    // another user is not behind them
    const other = request(log, 'alice');
    const alice = gate.run('alice', other.task);
    await flush();
    expect(log.running.get('alice')).toBe(1);
    other.end();
    await expect(alice).resolves.toBe('alice');
    for (const { end } of flood) end();
    const settled = await Promise.all(answers);
    const refused = settled.filter((answer) => answer instanceof DomainException);
    expect(refused).toHaveLength(5);
    for (const refusal of refused as DomainException[]) {
      expect(refusal.code).toBe(ErrorCode.RATE_LIMITED);
      expect(refusal.details.retryAfterMs).toBe(1000);
    }
    expect(settled.filter((answer) => answer === 'mallory')).toHaveLength(2 + REQUESTS_WAITING_PER_USER);
    expect(log.peak.get('mallory')).toBe(2);
    // nothing kept once the user has nothing running
    expect(gate.users).toBe(0);
  });

  it('should give a failed request its place back and fail it as it failed', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    await expect(gate.run('u', () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    await expect(gate.run('u', () => Promise.resolve(2))).resolves.toBe(2);
    expect(gate.users).toBe(0);
  });

  it('should pass requests without a user, and what is not HTTP, straight through', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const context = (type: string, principal?: { userId: string }) =>
      ({
        getType: () => type,
        getHandler: () => Routes.prototype.plain,
        getClass: () => Routes,
        switchToHttp: () => ({
          getRequest: () => ({ principal, socket: { destroyed: false } }),
          // written at once: the place goes back with it
          getResponse: () => ({ writableFinished: true }),
        }),
      }) as unknown as ExecutionContext;
    const handler = { handle: () => of('answer') };
    await expect(lastValueFrom(gate.intercept(context('http'), handler))).resolves.toBe('answer');
    await expect(lastValueFrom(gate.intercept(context('ws', { userId: 'u' }), handler))).resolves.toBe(
      'answer',
    );
    await expect(lastValueFrom(gate.intercept(context('http', { userId: 'u' }), handler))).resolves.toBe(
      'answer',
    );
    // a handler that answers nothing (it wrote the response itself)
    await expect(
      lastValueFrom(gate.intercept(context('http', { userId: 'u' }), { handle: () => of() }), {
        defaultValue: 'none',
      }),
    ).resolves.toBeUndefined();
    // the place goes back once the answer is written, after it is handed to Nest
    await flush();
    expect(gate.users).toBe(0);
  });

  // the state machine: whatever the users, order of arrivals and of ends, no user ever has more than
  // its places running, a request is refused only when its user's line is full, every other one runs,
  // and nothing is kept at the end
  it('should keep its bounds for any arrivals and ends (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.oneof(
            fc.record({ arrive: fc.constantFrom('a', 'b', 'c') }),
            fc.record({ end: fc.nat({ max: 200 }) }),
          ),
          { maxLength: 120 },
        ),
        async (atOnce, steps) => {
          const gate = new UserRequests(
            { requestsAtOncePerUser: atOnce, responseIdleTimeoutMs: 30_000 },
            new Reflector(),
          );
          const log = { running: new Map<string, number>(), peak: new Map<string, number>() };
          const open: Array<{ end: () => void; userId: string }> = [];
          const answers: Array<Promise<unknown>> = [];
          const inLine = new Map<string, number>();
          let refusedWhenNotFull = 0;
          for (const step of steps) {
            if ('arrive' in step) {
              const userId = step.arrive;
              const one = request(log, userId);
              const before = inLine.get(userId) ?? 0;
              inLine.set(userId, before + 1);
              open.push({ end: one.end, userId });
              answers.push(
                gate
                  .run(userId, one.task)
                  .catch((error: unknown) => {
                    if (before < atOnce + REQUESTS_WAITING_PER_USER) refusedWhenNotFull++;
                    return error;
                  })
                  .finally(() => inLine.set(userId, (inLine.get(userId) ?? 1) - 1)),
              );
            } else if (open.length > 0) {
              open.splice(step.end % open.length, 1)[0].end();
            }
            await flush();
            for (const [, running] of log.running) expect(running).toBeLessThanOrEqual(atOnce);
          }
          for (const { end } of open) end();
          await Promise.all(answers);
          expect(refusedWhenNotFull).toBe(0);
          expect(gate.users).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('should not run a request whose client left while it waited', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    let end!: () => void;
    const first = gate.run('u', () => new Promise<void>((resolve) => (end = resolve)));
    const task = jest.fn();
    let left = false;
    const queued = gate.run('u', task, () => left).catch((error: unknown) => error);
    left = true;
    end();
    await first;
    const refusal = await queued;
    expect(refusal).toBeInstanceOf(DomainException);
    expect((refusal as DomainException).code).toBe(ErrorCode.INVALID_MESSAGE);
    expect(task).not.toHaveBeenCalled();
    expect(gate.users).toBe(0);
  });

  it("should leave routes with a line of their own (whole-session reads) out of the user's line", async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    let end!: () => void;
    const holding = gate.run('u', () => new Promise<void>((resolve) => (end = resolve)));
    const context = (handler: () => void) =>
      ({
        getType: () => 'http',
        getHandler: () => handler,
        getClass: () => Routes,
        switchToHttp: () => ({
          getRequest: () => ({ principal: { userId: 'u' }, socket: { destroyed: false } }),
          getResponse: () => ({ writableFinished: true }),
        }),
      }) as unknown as ExecutionContext;
    // the user's one place is taken: a whole-session read runs at once all the same
    await expect(
      lastValueFrom(gate.intercept(context(Routes.prototype.wholeSession), { handle: () => of('read') })),
    ).resolves.toBe('read');
    let plain = false;
    const waiting = lastValueFrom(
      gate.intercept(context(Routes.prototype.plain), { handle: () => of((plain = true)) }),
    );
    await flush();
    expect(plain).toBe(false);
    end();
    await holding;
    await expect(waiting).resolves.toBe(true);
  });
});

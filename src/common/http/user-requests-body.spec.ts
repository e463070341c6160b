import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fc from 'fast-check';
import { from, lastValueFrom, of } from 'rxjs';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { OwnLine, REQUESTS_WAITING_PER_USER, UserRequests } from './user-requests';

function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// a request whose body is not read yet, and its response: `answer` closes the response as Node does
// once it is written, `leave` as when the client goes (its connection is destroyed first)
function exchange(userId = 'u') {
  // nothing waiting to go out on it (response-written.ts watches that)
  const socket = { destroyed: false, writableLength: 0, destroy: () => undefined };
  // the principal the guard sets on it
  const request = Object.assign(new EventEmitter(), {
    socket,
    principal: { userId },
  }) as unknown as IncomingMessage;
  const response = Object.assign(new EventEmitter(), {
    req: request,
    writableFinished: false,
    destroyed: false,
  }) as unknown as ServerResponse;
  Object.assign(request, { response });
  return {
    request,
    response,
    answer: () => response.emit('close'),
    leave: () => {
      socket.destroyed = true;
      response.emit('close');
    },
  };
}

class Routes {
  plain(): void {}
  @OwnLine()
  wholeSession(): void {}
}

function contextOf(request: IncomingMessage, handler: () => void): ExecutionContext {
  const response = (request as unknown as { response?: ServerResponse }).response;
  return {
    getType: () => 'http',
    getHandler: () => handler,
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
  } as unknown as ExecutionContext;
}

describe(`${UserRequests.name} before the body`, () => {
  it('should admit a request at once while its user has a place, and keep the place until its response closes', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const first = exchange();
    await gate.enter('u', first.request, first.response);
    const second = exchange();
    let admitted = false;
    const entering = gate.enter('u', second.request, second.response).then(() => (admitted = true));
    await flush();
    expect(admitted).toBe(false);
    first.answer();
    await entering;
    expect(admitted).toBe(true);
    second.answer();
    await flush();
    expect(gate.users).toBe(0);
  });

  it("should let requests wait in order and refuse the one past the line with 429's code, to retry in a second", async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 2, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const all = Array.from({ length: 2 + REQUESTS_WAITING_PER_USER + 1 }, () => exchange());
    const order: number[] = [];
    const outcomes = all.map((one, index) =>
      gate.enter('u', one.request, one.response).then(
        () => order.push(index),
        (error: unknown) => error,
      ),
    );
    const refusal = await outcomes[outcomes.length - 1];
    expect(refusal).toBeInstanceOf(DomainException);
    expect((refusal as DomainException).code).toBe(ErrorCode.RATE_LIMITED);
    expect((refusal as DomainException).details.retryAfterMs).toBe(1000);
    // another user is not in this line
    const other = exchange('v');
    await gate.enter('v', other.request, other.response);
    other.answer();
    for (let index = 0; index < all.length - 1; index++) {
      await flush();
      expect(order).toEqual(Array.from({ length: Math.min(index + 2, all.length - 1) }, (_, at) => at));
      all[index].answer();
    }
    await flush();
    expect(gate.users).toBe(0);
  });

  it('should not admit a request whose client left while it waited, and pass the place on', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const [first, gone, next] = [exchange(), exchange(), exchange()];
    await gate.enter('u', first.request, first.response);
    const left = gate.enter('u', gone.request, gone.response).catch((error: unknown) => error);
    const entering = gate.enter('u', next.request, next.response);
    gone.leave();
    // a connection closed while its request runs gives the place back too
    first.leave();
    expect(((await left) as DomainException).code).toBe(ErrorCode.INVALID_MESSAGE);
    await entering;
    next.answer();
    await flush();
    expect(gate.users).toBe(0);
  });

  it('should not take a second place for a request in line since before its body, and give the place back early to a route with a line of its own', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const plain = exchange();
    await gate.enter('u', plain.request, plain.response);
    // the interceptor runs it at once: it has the user's one place already
    await expect(
      lastValueFrom(
        gate.intercept(contextOf(plain.request, Routes.prototype.plain), { handle: () => of(1) }),
      ),
    ).resolves.toBe(1);
    const read = exchange();
    let readAdmitted = false;
    const entering = gate.enter('u', read.request, read.response).then(() => (readAdmitted = true));
    plain.answer();
    await entering;
    const after = exchange();
    let afterAdmitted = false;
    const afterEntering = gate.enter('u', after.request, after.response).then(() => (afterAdmitted = true));
    await flush();
    expect(afterAdmitted).toBe(false);
    // a whole-session read waits in its own line, not holding the user's place
    await expect(
      lastValueFrom(
        gate.intercept(contextOf(read.request, Routes.prototype.wholeSession), { handle: () => of(2) }),
      ),
    ).resolves.toBe(2);
    await afterEntering;
    expect(readAdmitted && afterAdmitted).toBe(true);
    // its response closing later gives nothing back twice
    read.answer();
    after.answer();
    await flush();
    expect(gate.users).toBe(0);
  });

  // An answer not yet written is memory of this process: a client that reads none of it held 300–520
  // MB of one user's answers when the place went back with the handler (third black-box audit)
  it('should keep the place until its answer is written, not only until its handler is done', async () => {
    const gate = new UserRequests(
      { requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 },
      new Reflector(),
    );
    const first = exchange();
    await gate.enter('u', first.request, first.response);
    const next = exchange();
    let admitted = false;
    const entering = gate.enter('u', next.request, next.response).then(() => (admitted = true));
    let end!: () => void;
    const handled = lastValueFrom(
      gate.intercept(contextOf(first.request, Routes.prototype.plain), {
        handle: () => from(new Promise<number>((resolve) => (end = () => resolve(1)))),
      }),
    );
    await flush();
    // the handler runs: the place is its own
    expect(admitted).toBe(false);
    end();
    await handled;
    await flush();
    // done, but its answer is not written yet: the place is still its own
    expect(admitted).toBe(false);
    first.response.emit('finish');
    await entering;
    expect(admitted).toBe(true);
    first.answer();
    next.answer();
    await flush();
    expect(gate.users).toBe(0);
  });

  // the state machine: whatever the arrivals, answers and departures, a user never has more than its
  // places admitted, requests are admitted in the order they came, one is refused only when its
  // user's line is full, and nothing is kept at the end
  it('should keep its bounds for any arrivals, answers and departures (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.oneof(
            { arbitrary: fc.record({ arrive: fc.constantFrom('a', 'b') }), weight: 3 },
            { arbitrary: fc.record({ answer: fc.nat({ max: 200 }) }), weight: 1 },
            { arbitrary: fc.record({ leave: fc.nat({ max: 200 }) }), weight: 1 },
          ),
          { maxLength: 160 },
        ),
        async (atOnce, steps) => {
          const gate = new UserRequests(
            { requestsAtOncePerUser: atOnce, responseIdleTimeoutMs: 30_000 },
            new Reflector(),
          );
          interface Entry {
            userId: string;
            one: ReturnType<typeof exchange>;
            admitted: boolean;
            closed: boolean;
          }
          const entries: Entry[] = [];
          const outcomes: Array<Promise<unknown>> = [];
          // requests of each user not yet refused or given back
          const inLine = new Map<string, number>();
          const admittedOrder = new Map<string, number[]>();
          let refusedWhenNotFull = 0;
          const admittedOpen = (userId: string) =>
            entries.filter((entry) => entry.userId === userId && entry.admitted && !entry.closed).length;
          for (const step of steps) {
            if ('arrive' in step) {
              const userId = step.arrive;
              const entry: Entry = { userId, one: exchange(userId), admitted: false, closed: false };
              const index = entries.push(entry) - 1;
              const before = inLine.get(userId) ?? 0;
              inLine.set(userId, before + 1);
              entry.one.response.once('close', () => {
                if (entry.admitted) inLine.set(userId, (inLine.get(userId) ?? 1) - 1);
              });
              outcomes.push(
                gate.enter(userId, entry.one.request, entry.one.response).then(
                  () => {
                    entry.admitted = true;
                    admittedOrder.set(userId, [...(admittedOrder.get(userId) ?? []), index]);
                  },
                  (error: unknown) => {
                    inLine.set(userId, (inLine.get(userId) ?? 1) - 1);
                    if ((error as DomainException).code === ErrorCode.RATE_LIMITED) {
                      if (before < atOnce + REQUESTS_WAITING_PER_USER) refusedWhenNotFull++;
                    } else expect(entry.closed).toBe(true);
                  },
                ),
              );
            } else {
              const open = entries.filter((entry) => !entry.closed);
              if (open.length === 0) continue;
              const entry = open[('answer' in step ? step.answer : step.leave) % open.length];
              // only an admitted request is answered; any may be left
              if ('answer' in step && !entry.admitted) continue;
              entry.closed = true;
              if ('answer' in step) entry.one.answer();
              else entry.one.leave();
            }
            await flush();
            for (const userId of ['a', 'b']) expect(admittedOpen(userId)).toBeLessThanOrEqual(atOnce);
          }
          for (const entry of entries.filter((one) => !one.closed)) {
            entry.closed = true;
            entry.one.leave();
          }
          await Promise.all(outcomes);
          await flush();
          expect(refusedWhenNotFull).toBe(0);
          for (const order of admittedOrder.values()) expect(order).toEqual([...order].sort((x, y) => x - y));
          expect(gate.users).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

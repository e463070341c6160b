import { EventEmitter } from 'node:events';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { of } from 'rxjs';
import { DomainException } from '../../common/errors/domain.exception';
import { SessionReads, WholeSessionRead } from './session-reads';

function context(userId: string, response: EventEmitter): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => ({ principal: { userId } }), getResponse: () => response }),
  } as unknown as ExecutionContext;
}

const handler: CallHandler = { handle: () => of('read') };

describe('WholeSessionRead', () => {
  it('should keep the place until the response closes, and give a waiting one back at once when its client left', async () => {
    const reads = new SessionReads({ sessionReadsAtOnce: 1 });
    const interceptor = new WholeSessionRead(reads, { responseIdleTimeoutMs: 60_000 });
    const first = new EventEmitter();
    await interceptor.intercept(context('a', first), handler);
    expect(reads.active).toBe(1);
    // another user's read waits for the one place; its client goes away meanwhile
    const gone = new EventEmitter();
    const waiting = interceptor.intercept(context('b', gone), handler);
    gone.emit('close');
    first.emit('close');
    await expect(waiting).rejects.toBeInstanceOf(DomainException);
    // given back at once, not held for the response it never writes
    expect([reads.active, reads.waiting]).toEqual([0, 0]);
    const third = new EventEmitter();
    await interceptor.intercept(context('c', third), handler);
    expect(reads.active).toBe(1);
    third.emit('close');
    expect(reads.active).toBe(0);
  });

  // an answer is memory until written: a client reading none of a 9.8 MB session's answer held
  // another one every 10 s while the place went back at 10 s (third black-box audit)
  it("should keep the place while the answer is on its connection, until it is written, and give up a queued one's at 10 s", async () => {
    jest.useFakeTimers();
    try {
      const reads = new SessionReads({ sessionReadsAtOnce: 1 });
      const interceptor = new WholeSessionRead(reads, { responseIdleTimeoutMs: 60_000 });
      // on its connection (its socket assigned), not yet taken by the kernel
      const sending = Object.assign(new EventEmitter(), { socket: {} });
      await interceptor.intercept(context('a', sending), handler);
      jest.advanceTimersByTime(60_000);
      expect(reads.active).toBe(1);
      sending.emit('finish');
      expect(reads.active).toBe(0);
      // queued behind another answer of a pipelined connection (no socket yet): given up at 10 s
      const queued = Object.assign(new EventEmitter(), { socket: null });
      await interceptor.intercept(context('a', queued), handler);
      jest.advanceTimersByTime(9_999);
      expect(reads.active).toBe(1);
      jest.advanceTimersByTime(1);
      expect(reads.active).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

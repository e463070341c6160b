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
    const interceptor = new WholeSessionRead(reads);
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
});

import { errorText } from '../../../shared/errors';
import { deliveryOf } from './delivery';
import type { RoomMessage } from './thread-state';

const message = (overrides: Partial<RoomMessage> = {}): RoomMessage => ({
  key: 'pending:c1',
  clientId: 'c1',
  userId: 'alice',
  content: 'hello',
  kind: 'text',
  deleted: false,
  reactions: {},
  pending: true,
  ...overrides,
});

describe(deliveryOf.name, () => {
  it('should offer Retry, with the reason, for a message refused for good', () => {
    expect(deliveryOf(message({ failed: 'MUTED' }), true, false)).toEqual({
      text: `Not sent. ${errorText('MUTED')}`,
      retry: true,
    });
  });

  it('should say Sending… while a message waits (also for its retry_after), and Sent or Seen once stored', () => {
    expect(deliveryOf(message(), true, false)).toEqual({ text: 'Sending…', retry: false });
    const stored = message({ key: 'm1', messageId: 'm1', seq: 1, pending: false });
    expect(deliveryOf(stored, true, false)).toEqual({ text: 'Sent', retry: false });
    expect(deliveryOf(stored, true, true)).toEqual({ text: 'Seen', retry: false });
    expect(deliveryOf({ ...stored, opPending: true }, true, true)).toEqual({
      text: 'Sending…',
      retry: false,
    });
  });

  it("should say nothing under someone else's message, unless this user's op on it is on its way", () => {
    const theirs = message({ key: 'm1', messageId: 'm1', userId: 'bob', pending: false });
    expect(deliveryOf(theirs, false, false)).toBeNull();
    expect(deliveryOf({ ...theirs, opPending: true }, false, false)).toEqual({
      text: 'Sending…',
      retry: false,
    });
  });
});

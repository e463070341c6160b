import type { ClientHub } from '../realtime/client-hub';
import type { MessageRecord } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import { RecordService, type RecordInput } from './record.service';
import type { ReplyService } from './reply.service';
import type { TurnWatchService } from './turn-watch.service';

describe(RecordService.name, () => {
  const stored: MessageRecord = {
    id: 'm1',
    seq: 3,
    type: 'user_message',
    sender: 'user',
    client_id: 'c1',
    content: 'hello',
    timestamp: new Date(),
  } as MessageRecord;

  const setup = (append: jest.Mock) => {
    const watch = jest.fn();
    const hub = { send: jest.fn(), toSession: jest.fn() };
    const replies = { early: jest.fn().mockReturnValue(undefined), request: jest.fn() };
    const service = new RecordService(
      { append, lastSeq: () => 3 } as unknown as SessionsService,
      hub as unknown as ClientHub,
      replies as unknown as ReplyService,
      { watch } as unknown as TurnWatchService,
    );
    return { service, watch, hub, replies };
  };
  const input = (overrides: Partial<RecordInput> = {}): RecordInput => ({
    sessionId: 's1',
    owner: 'u1',
    answer: true,
    message: {
      type: 'user_message',
      sender: 'user',
      client_id: 'c1',
      content: 'hello',
    },
    ...overrides,
  });

  it('should put the turn under watch when its append fails, which the store may still have run', async () => {
    const { service, watch } = setup(jest.fn().mockRejectedValue(new Error('store timed out')));
    await expect(service.record(input())).rejects.toThrow('store timed out');
    expect(watch).toHaveBeenCalledWith('s1', 'u1');
  });

  it('should send the stored copy again and put the turn under watch when a resend finds its message stored', async () => {
    const { service, watch, hub, replies } = setup(
      jest.fn().mockResolvedValue({ message: stored, duplicate: true }),
    );
    const recorded = await service.record(input());
    expect(recorded.duplicate).toBe(true);
    expect(watch).toHaveBeenCalledWith('s1', 'u1');
    // the watch asks for a reply when none is running anywhere; the resend itself asks for none
    expect(replies.request).not.toHaveBeenCalled();
    expect(hub.toSession).toHaveBeenCalledWith(
      's1',
      expect.objectContaining({ type: 'user_message', seq: 3, id: 'm1', client_id: 'c1' }),
      undefined,
      undefined,
    );
  });

  // CONTRACT §2: the client_id is echoed on every message it causes
  it("should name the session from its first message with that message's client_id on session_renamed", async () => {
    const session = { id: 's1', user_id: 'u1', model_id: 'demo', name: 'Hello', assisting_admin_id: null };
    const { service, hub } = setup(
      jest.fn().mockResolvedValue({ message: stored, duplicate: false, session, named: 'Hello' }),
    );
    await service.record(input({ name: true }));
    expect(hub.toSession).toHaveBeenCalledWith('s1', {
      type: 'session_renamed',
      session_id: 's1',
      seq: 3,
      client_id: 'c1',
      content: 'Hello',
    });
  });

  it('should watch nothing for a message the AI does not answer', async () => {
    const { service, watch } = setup(jest.fn().mockResolvedValue({ message: stored, duplicate: true }));
    await service.record(input({ answer: false }));
    await expect(
      setup(jest.fn().mockRejectedValue(new Error('x'))).service.record(input({ owner: undefined })),
    ).rejects.toThrow('x');
    expect(watch).not.toHaveBeenCalled();
  });
});

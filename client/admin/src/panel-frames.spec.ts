import { ChatStore } from '../../chat/src/chat-store';
import { applyPanelFrame } from './panel-frames';

describe(applyPanelFrame.name, () => {
  const withPending = (clientId: string) => {
    const store = new ChatStore();
    store.sessionId = 's1';
    store.addPending({ type: 'user_message', sender: 'admin', content: 'hello', clientId });
    return store;
  };

  it("should mark an admin message failed by its client_id when the error names the message's session", () => {
    const store = withPending('c1');
    // the socket was no longer bound to s1: the server names the message's target session
    const update = applyPanelFrame(store, 's1', {
      type: 'error',
      session_id: 's1',
      client_id: 'c1',
      error: { code: 'SESSION_LOCKED', message: 'You no longer hold this session.', recoverable: true },
    });
    // the takeover ended (found by the admin-dashboard audit of session 43: it read "Another admin
    // is already assisting this conversation." with nobody assisting, 1 of 1)
    expect(store.pendingMessage('c1')?.failed).toBe('TAKEOVER_ENDED');
    expect(update).toMatchObject({ redraw: true, error: 'TAKEOVER_ENDED' });
  });

  it('should keep any other refusal of an admin message as it came', () => {
    const store = withPending('c1');
    const update = applyPanelFrame(store, 's1', {
      type: 'error',
      session_id: 's1',
      client_id: 'c1',
      error: { code: 'RATE_LIMITED', message: '', recoverable: true },
    });
    expect(update).toMatchObject({ redraw: true, error: 'RATE_LIMITED' });
  });

  it('should mark an admin message failed whatever session its error names', () => {
    const store = withPending('c1');
    applyPanelFrame(store, 's1', {
      type: 'error',
      session_id: 'console',
      client_id: 'c1',
      error: { code: 'SESSION_LOCKED', message: '', recoverable: true },
    });
    expect(store.pendingMessage('c1')?.failed).toBe('TAKEOVER_ENDED');
  });

  it('should show nothing for an error without a client_id (a refused typing frame)', () => {
    const store = withPending('c1');
    const update = applyPanelFrame(store, 's1', {
      type: 'error',
      session_id: 's1',
      error: { code: 'RATE_LIMITED', message: '', recoverable: true, retry_after: 100 },
    });
    expect(update.error).toBeUndefined();
    expect(store.pendingMessage('c1')?.failed).toBeUndefined();
  });

  it("should report an admin message's ack as sent", () => {
    const store = withPending('c1');
    const update = applyPanelFrame(store, 's1', {
      type: 'ack',
      session_id: 's1',
      client_id: 'c1',
      id: 'm',
      seq: 4,
    });
    expect(update).toMatchObject({ redraw: true, sent: true });
    expect(store.messages.find((message) => message.clientId === 'c1')?.pending).toBe(false);
  });

  it("should leave other sessions' frames out of the thread", () => {
    const store = new ChatStore();
    const update = applyPanelFrame(store, 's1', {
      type: 'user_message',
      session_id: 's2',
      sender: 'user',
      content: 'elsewhere',
      seq: 1,
    });
    expect(update.redraw).toBe(false);
    expect(store.messages).toEqual([]);
  });
});

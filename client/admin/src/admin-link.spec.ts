import { AdminLink, JOIN_TIMEOUT_MS } from './admin-link';
import { FakeWebSocket, installFakeBrowser, removeFakeBrowser } from '../../shared/testing/fake-web-socket';

const TOKEN = 'e30.e30.c2ln';

describe(AdminLink.name, () => {
  beforeEach(() => {
    jest.useFakeTimers();
    installFakeBrowser();
  });
  afterEach(() => {
    jest.useRealTimers();
    removeFakeBrowser();
  });

  const connectedLink = () => {
    const link = new AdminLink(TOKEN);
    FakeWebSocket.last.connect();
    return link;
  };
  // the server's answer to the last admin_join/admin_leave sent for this session
  const answer = (sessionId: string, reply: Record<string, unknown>) => {
    const ws = FakeWebSocket.last;
    const command = [...ws.sent].reverse().find((frame) => frame.session_id === sessionId);
    ws.frame({ session_id: sessionId, client_id: command?.client_id, ...reply });
  };
  const joined = async (link: AdminLink, sessionId: string, seq = 5) => {
    const pending = link.join(sessionId);
    answer(sessionId, { type: 'ack', seq });
    await pending;
  };
  // a new socket after a drop: what the link sends on its connection_status
  const reconnect = (link: AdminLink) => {
    link.socket.restart();
    FakeWebSocket.last.connect();
    return FakeWebSocket.last.sentOf('admin_join').map((frame) => frame.session_id);
  };

  it('should join again on reconnect only the one session it holds, not one it took before', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    await joined(link, 's2');
    expect(link.holds('s1')).toBe(false);
    expect(link.holds('s2')).toBe(true);
    expect(reconnect(link)).toEqual(['s2']);
  });

  it('should not join again a session whose takeover ended by an admin_leave frame', async () => {
    const link = connectedLink();
    await joined(link, 's1', 5);
    const held: Array<string | null> = [];
    link.onHeld((sessionId) => held.push(sessionId));
    // released elsewhere (REST, another tab, lease lapse): the server tells the bound socket
    FakeWebSocket.last.frame({ type: 'admin_leave', session_id: 's1', seq: 9 });
    expect(link.holds('s1')).toBe(false);
    expect(held).toEqual([null]);
    expect(reconnect(link)).toEqual([]);
  });

  it("should keep the session on an earlier takeover's admin_leave replayed after the join", async () => {
    const link = connectedLink();
    await joined(link, 's1', 5);
    FakeWebSocket.last.frame({ type: 'admin_leave', session_id: 's1', seq: 4 });
    expect(link.holds('s1')).toBe(true);
  });

  it('should not join again a session after an error saying it is not held', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    link.say('s1', 'hello', 'm1');
    FakeWebSocket.last.frame({
      type: 'error',
      session_id: 's1',
      client_id: 'm1',
      error: { code: 'SESSION_LOCKED', message: 'You no longer hold this session.' },
    });
    expect(link.holds('s1')).toBe(false);
    expect(reconnect(link)).toEqual([]);
  });

  it('should keep the session after a rate-limited message', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    FakeWebSocket.last.frame({
      type: 'error',
      session_id: 's1',
      error: { code: 'RATE_LIMITED', message: 'slow down', retry_after: 100 },
    });
    expect(link.holds('s1')).toBe(true);
  });

  // the takeover may have ended while the link was down (released elsewhere, the user left): the
  // server then refuses the resume instead of starting a new takeover behind the admin's back
  it('should ask on reconnect only to resume the takeover it holds, never to take the session anew', async () => {
    const link = connectedLink();
    await joined(link, 's1', 7);
    expect(reconnect(link)).toEqual(['s1']);
    const [resume] = FakeWebSocket.last.sentOf('admin_join');
    expect(resume.metadata).toEqual({ resume: true });
    answer('s1', { type: 'error', error: { code: 'NOT_FOUND', message: 'Your takeover has ended.' } });
    expect(link.holds('s1')).toBe(false);
    // a join the admin asks for is a plain one
    const pending = link.join('s2');
    expect(FakeWebSocket.last.sentOf('admin_join').at(-1)?.metadata).toBeUndefined();
    answer('s2', { type: 'ack', seq: 1 });
    await pending;
  });

  // Found by the admin-dashboard black-box audit in session 43 (1 of 1): the hold was dropped at the
  // click on another session's Take over, before the server refused it.
  it('should keep holding a session when taking over another one is refused, and resume it', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    const pending = link.join('s2');
    expect(link.holds('s1')).toBe(true);
    answer('s2', { type: 'error', error: { code: 'SESSION_LOCKED', message: 'taken' } });
    await expect(pending).rejects.toThrow('SESSION_LOCKED');
    expect(link.holds('s1')).toBe(true);
    expect(link.holds('s2')).toBe(false);
    expect(reconnect(link)).toEqual(['s1']);
  });

  it('should move the hold to another session on its join ack', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    const held: Array<string | null> = [];
    link.onHeld((sessionId) => held.push(sessionId));
    const pending = link.join('s2');
    answer('s2', { type: 'ack', seq: 9 });
    await pending;
    expect(held).toEqual(['s2']);
    expect(reconnect(link)).toEqual(['s2']);
  });

  it('should drop the session when joining it again after a reconnect is refused', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    expect(reconnect(link)).toEqual(['s1']);
    answer('s1', { type: 'error', error: { code: 'SESSION_LOCKED', message: 'taken' } });
    expect(link.holds('s1')).toBe(false);
    expect(reconnect(link)).toEqual([]);
  });

  it('should not hold a session it released, even when the ack is lost', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    void link.leave('s1').catch(() => undefined);
    expect(link.holds('s1')).toBe(false);
    expect(reconnect(link)).toEqual([]);
  });

  // Found by the admin-dashboard black-box audit in session 43 (1 of 1): after 62 s offline the
  // dashboard dropped its hold unasked, while a server with a 5 min TAKEOVER_GRACE still had the
  // admin holding the session. The server decides; its refusal ends the hold, named as lapsed.
  it('should resume after any time down and let the server say whether the takeover lapsed', async () => {
    const link = connectedLink();
    await joined(link, 's1');
    const ends: Array<[string | null, string | undefined]> = [];
    link.onHeld((sessionId, ended) => ends.push([sessionId, ended]));
    FakeWebSocket.last.close(1006);
    jest.advanceTimersByTime(5 * 60_000);
    FakeWebSocket.last.connect();
    const [resume] = FakeWebSocket.last.sentOf('admin_join');
    expect(resume).toMatchObject({ session_id: 's1', metadata: { resume: true } });
    expect(link.holds('s1')).toBe(true);
    answer('s1', { type: 'ack', seq: 9 });
    expect(link.holds('s1')).toBe(true);

    FakeWebSocket.last.close(1006);
    jest.advanceTimersByTime(60_000);
    FakeWebSocket.last.connect();
    answer('s1', { type: 'error', error: { code: 'NOT_FOUND' } });
    expect(link.holds('s1')).toBe(false);
    expect(ends).toEqual([[null, 's1']]);
  });

  it('should not call a hold the admin released lapsed', async () => {
    const link = connectedLink();
    const ends: Array<string | undefined> = [];
    link.onHeld((_, ended) => ends.push(ended));
    await joined(link, 's1');
    const leaving = link.leave('s1');
    answer('s1', { type: 'ack' });
    await leaving;
    expect(ends).toEqual([undefined, undefined]);
  });

  it('should wait for a join ack that takes 11 s (the server waits for cut-off replies)', async () => {
    const link = connectedLink();
    const pending = link.join('s1');
    jest.advanceTimersByTime(11_000);
    answer('s1', { type: 'ack', seq: 3 });
    await expect(pending).resolves.toMatchObject({ type: 'ack' });
    expect(link.holds('s1')).toBe(true);
  });

  it('should hold the session when its join ack comes after the client gave up', async () => {
    const link = connectedLink();
    const held: Array<string | null> = [];
    link.onHeld((sessionId) => held.push(sessionId));
    const pending = link.join('s1');
    jest.advanceTimersByTime(JOIN_TIMEOUT_MS);
    await expect(pending).rejects.toThrow('TIMEOUT');
    answer('s1', { type: 'ack', seq: 3 });
    expect(link.holds('s1')).toBe(true);
    expect(held).toEqual(['s1']);
  });

  it('should adopt a fresh token on the open socket with auth_refresh', () => {
    const link = connectedLink();
    link.renew('e30.eyJhIjoxfQ.c2ln');
    expect(FakeWebSocket.last.sentOf('auth_refresh')).toMatchObject([{ content: 'e30.eyJhIjoxfQ.c2ln' }]);
  });

  it('should connect again with a fresh token once signed out', () => {
    const link = connectedLink();
    // the token lapsed: the server closed the socket
    FakeWebSocket.last.close(4401);
    expect(link.socket.state.kind).toBe('signed_out');
    const before = FakeWebSocket.all.length;
    link.renew('e30.eyJiIjoyfQ.c2ln');
    expect(FakeWebSocket.all.length).toBe(before + 1);
    expect(FakeWebSocket.last.protocols).toEqual(['chatbox', 'bearer.e30.eyJiIjoyfQ.c2ln']);
    expect(FakeWebSocket.last.url).not.toContain('token=');
  });
});

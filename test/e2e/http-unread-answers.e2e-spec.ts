import { connect, type Socket } from 'node:net';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { createRoom, roomsSocket, say } from './rooms.helpers';

// the idle time the server under test gives an answer nobody takes (RESPONSE_IDLE_TIMEOUT; 60 s by
// default, nginx's send_timeout)
const IDLE_MS = 2_000;
// pipelined on each connection (the per-connection bound of requests in flight)
const PIPELINED = 16;
const CONNECTIONS = 2;

interface Unread {
  socket: Socket;
  bytes: number;
  closed: boolean;
}

// One user pipelines reads of a long room page on a few connections and reads none of the answers
// (docs/protocol.md, "A user's requests at once"). A request's place went back when its handler was
// done, so every answer was made and kept in memory, unsent, for as long as the connections stayed
// (a third black-box audit: RSS 188 → 895 MB in 43 s from one user). Now a place is held until its
// answer is written, and a connection whose client takes none of its answer for RESPONSE_IDLE_TIMEOUT
// is closed: the user's next request waits for those places, another user's does not.
describe('answers a client never reads (e2e)', () => {
  jest.setTimeout(90_000);
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp({
      RESPONSE_IDLE_TIMEOUT: `${IDLE_MS}ms`,
      ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '500',
    });
  });
  afterAll(() => app.close());

  it("should hold the user's places until the answers are written, and close the connections that take none", async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const roomId = await createRoom(app, token);
    const writer = await roomsSocket(app, token);
    // 100 messages of ~8 KB of JSON each: a page of ~800 KB, more than loopback's buffers take
    // for a connection's sixteen
    for (let index = 0; index < 100; index++) await say(writer, roomId, 'é'.repeat(4_000), `long-${index}`);
    await writer.close();

    const { port } = new URL(app.httpUrl);
    const request =
      `GET /api/v1/chat/rooms/${roomId}/messages?limit=100 HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: Bearer ${token}\r\n\r\n`;
    const unread: Unread[] = await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        () =>
          new Promise<Unread>((resolve) => {
            const socket = connect(Number(port), '127.0.0.1', () => {
              socket.write(request.repeat(PIPELINED));
              resolve(entry);
            });
            const entry: Unread = { socket, bytes: 0, closed: false };
            socket.on('close', () => (entry.closed = true));
            socket.on('error', () => undefined);
          }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));

    // the same user's next request waits for a place the unread answers hold
    let answered = false;
    const next = fetch(`${app.httpUrl}/api/v1/chat/rooms/${roomId}/messages?limit=1`, {
      headers: authHeaders(token),
    }).then((response) => {
      answered = true;
      return response.status;
    });
    // another user is answered at once
    const other = await fetch(`${app.httpUrl}/api/v1/chat/rooms`, {
      headers: authHeaders(userToken(uniqueUser())),
    });
    expect(other.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(false);
    // answered once the connections that took nothing are closed
    expect(await next).toBe(200);

    // what the closed connections got before they were closed: not every answer
    for (const entry of unread) {
      entry.socket.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
      entry.socket.resume();
    }
    const deadline = Date.now() + 10_000;
    while (unread.some((entry) => !entry.closed) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unread.map((entry) => entry.closed)).toEqual(unread.map(() => true));
    const page = (
      await (
        await fetch(`${app.httpUrl}/api/v1/chat/rooms/${roomId}/messages?limit=100`, {
          headers: authHeaders(token),
        })
      ).text()
    ).length;
    for (const entry of unread) expect(entry.bytes).toBeLessThan(PIPELINED * page);
  });
});

import { ClientHub } from '../../src/modules/realtime/client-hub';
import { MAX_PONG_BACKLOG_BYTES } from '../../src/modules/realtime/socket-lifecycle';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// A client that pings and reads nothing (docs/protocol.md, "Socket limits"): ws queued a pong for
// every ping, without bound (3,000,000 pings: +877 MB). A ping is answered while the client reads;
// past a backlog it is not, and a client that reads is answered each time (CONTRACT §2).
describe('WebSocket pings (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  it('should answer pings while the client reads', async () => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    const pongs: string[] = [];
    client.socket.on('pong', (data: Buffer) => pongs.push(data.toString()));
    for (let index = 0; index < 5; index++) client.socket.ping(`p${index}`);
    const deadline = Date.now() + 5_000;
    while (pongs.length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pongs).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    await client.close();
  });

  it('should keep no more than a bounded backlog of pongs for a client that pings and reads nothing', async () => {
    const user = uniqueUser();
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(user)}`);
    await client.nextOfType('connection_status');
    const raw = (client.socket as unknown as { _socket: { pause(): void } })._socket;
    raw.pause();
    const payload = 'x'.repeat(120);
    for (let index = 0; index < 100_000; index++) client.socket.ping(payload);
    const serverSide = () =>
      server.app
        .get(ClientHub)
        .all()
        .find((connection) => connection.principal.userId === user)?.socket;
    // the server has read them all once nothing more comes in
    let last = -1;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const read = (serverSide() as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
      if (read === last) break;
      last = read;
    }
    // 100,000 pongs of 122 bytes would be 12 MB waiting
    expect(serverSide()?.bufferedAmount ?? 0).toBeLessThanOrEqual(MAX_PONG_BACKLOG_BYTES + 128);
    client.socket.terminate();
  });
});

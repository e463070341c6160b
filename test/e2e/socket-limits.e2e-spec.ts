import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, UpgradeRefused } from '../helpers/ws-client';

// One token can open sockets without end, each holding memory on the instance, until the process
// runs out of it: the upgrade refuses a user's socket past MAX_SOCKETS_PER_USER (429) and any past
// MAX_SOCKETS (503), before a socket exists; both socket paths count together (docs/protocol.md,
// "Socket limits"). Connecting and closing in a loop costs the store a read and a write each time:
// past CONNECT_RATE_PER_USER a second (three seconds' worth at once) a user's upgrade is refused
// with 429 and a Retry-After.
describe('socket limits at the upgrade (e2e)', () => {
  let server: RunningApp;
  const open: TestClient[] = [];

  beforeAll(async () => {
    server = await startApp({ MAX_SOCKETS_PER_USER: '3', MAX_SOCKETS: '6', CONNECT_RATE_PER_USER: '2' });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server.close();
  });

  const roomsUrl = () => server.wsUrl.replace('/chat/ws', '/ws/chat');
  async function connect(user: string, url = server.wsUrl): Promise<TestClient> {
    const client = await TestClient.connect(`${url}?token=${userToken(user)}`);
    await client.nextOfType('connection_status');
    open.push(client);
    return client;
  }
  async function refused(user: string, url = server.wsUrl): Promise<UpgradeRefused | undefined> {
    const error = await TestClient.connect(`${url}?token=${userToken(user)}`).then(
      async (client) => {
        open.push(client);
        return undefined;
      },
      (caught: unknown) => caught,
    );
    return error instanceof UpgradeRefused ? error : undefined;
  }
  async function refusal(user: string, url = server.wsUrl): Promise<number | undefined> {
    return (await refused(user, url))?.status;
  }

  it("should refuse a user's socket past MAX_SOCKETS_PER_USER, on either path, and take one again once one closed", async () => {
    const user = uniqueUser();
    await connect(user);
    const second = await connect(user, roomsUrl());
    await connect(user);
    expect(await refusal(user)).toBe(429);
    expect(await refusal(user, roomsUrl())).toBe(429);
    // another user is not held back by this one
    const other = await connect(uniqueUser());
    await second.close();
    await other.close();
    // the close reaches the server after the client's; the limit frees once it has
    const deadline = Date.now() + 5000;
    let again: number | undefined = 429;
    while (again === 429 && Date.now() < deadline) again = await refusal(user);
    expect(again).toBeUndefined();
  });

  it('should refuse a user connecting and closing in a loop past CONNECT_RATE_PER_USER, with Retry-After, on either path', async () => {
    const user = uniqueUser();
    // three seconds' worth at once (6 at 2 a second), each closed at once: the socket count never binds
    for (let index = 0; index < 6; index++) {
      const client = await connect(user, index % 2 === 0 ? server.wsUrl : roomsUrl());
      await client.close();
    }
    const refusedChat = await refused(user);
    expect(refusedChat?.status).toBe(429);
    expect(refusedChat?.headers['retry-after']).toBe('1');
    expect(await refusal(user, roomsUrl())).toBe(429);
    // another user is not held back by this one
    await (await connect(uniqueUser())).close();
    // after the wait it was told, connects are back at the rate: two a second, not a new burst
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let admitted = 0;
    for (let attempt = 0; attempt < 10; attempt++) {
      if ((await refused(user)) !== undefined) break;
      admitted++;
      await Promise.all(open.splice(0).map((client) => client.close()));
    }
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(4);
  });

  it('should refuse any socket past MAX_SOCKETS with 503', async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let index = 0; index < 6; index++) await connect(uniqueUser());
    expect(await refusal(uniqueUser())).toBe(503);
    expect(await refusal(uniqueUser(), roomsUrl())).toBe(503);
  });
});

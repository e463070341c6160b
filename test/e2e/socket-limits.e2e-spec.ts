import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, UpgradeRefused } from '../helpers/ws-client';

// One token can open sockets without end, each holding memory on the instance, until the process
// runs out of it: the upgrade refuses a user's socket past MAX_SOCKETS_PER_USER (429) and any past
// MAX_SOCKETS (503), before a socket exists; both socket paths count together (docs/protocol.md,
// "Socket limits").
describe('socket limits at the upgrade (e2e)', () => {
  let server: RunningApp;
  const open: TestClient[] = [];

  beforeAll(async () => {
    server = await startApp({ MAX_SOCKETS_PER_USER: '3', MAX_SOCKETS: '6' });
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
  async function refusal(user: string, url = server.wsUrl): Promise<number | undefined> {
    const error = await TestClient.connect(`${url}?token=${userToken(user)}`).then(
      async (client) => {
        open.push(client);
        return undefined;
      },
      (caught: unknown) => caught,
    );
    return error instanceof UpgradeRefused ? error.status : undefined;
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

  it('should refuse any socket past MAX_SOCKETS with 503', async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let index = 0; index < 6; index++) await connect(uniqueUser());
    expect(await refusal(uniqueUser())).toBe(503);
    expect(await refusal(uniqueUser(), roomsUrl())).toBe(503);
  });
});

import { startApp, type RunningApp } from '../helpers/app';
import { StoreServer } from '../helpers/store-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, UpgradeRefused } from '../helpers/ws-client';

// A FerretDB of its own that the test stops and starts again, under an app started against it.
describe('a MongoDB outage (e2e)', () => {
  let store: StoreServer;
  let server: RunningApp;

  beforeAll(async () => {
    store = await StoreServer.start('outage-');
    server = await startApp({ MONGODB_URI: store.uri('outage') });
  });
  afterAll(async () => {
    await server?.close();
    store?.remove();
  });

  const ready = async () => (await fetch(`${server.httpUrl}/chat/readyz`)).status;
  async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('should refuse new sockets with 503 at once while the database is away, and take them again after', async () => {
    const url = `${server.wsUrl}?token=${userToken(uniqueUser())}`;
    const before = await TestClient.connect(url);
    await before.nextOfType('connection_status');
    await before.close();

    store.stop();
    await until(async () => (await ready()) === 503, 30_000);
    const started = Date.now();
    const refused = await TestClient.connect(url).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(503);
    // no socket left waiting for the driver's server selection
    expect(Date.now() - started).toBeLessThan(1000);

    store.start();
    await until(async () => (await ready()) === 200, 30_000);
    const after = await TestClient.connect(url);
    expect((await after.nextOfType('connection_status')).metadata?.restored).toBe(true);
    await after.close();
  });
});

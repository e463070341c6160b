import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type RunningApp } from '../helpers/app';
import { freePort } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, UpgradeRefused } from '../helpers/ws-client';

const FERRETDB = join(__dirname, '../../scripts/ferretdb.sh');

// A FerretDB of its own that the test stops and starts again, under an app started against it.
describe('a MongoDB outage (e2e)', () => {
  let dir: string;
  let port: number;
  let server: RunningApp;
  const ferret = (...args: string[]) => execFileSync('bash', [FERRETDB, ...args], { stdio: 'ignore' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'outage-'));
    port = await freePort();
    ferret('start', String(port), dir);
    server = await startApp({ MONGODB_URI: `mongodb://127.0.0.1:${port}/outage` });
  });
  afterAll(async () => {
    await server?.close();
    ferret('stop', dir);
    rmSync(dir, { recursive: true, force: true });
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

    ferret('stop', dir);
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

    ferret('start', String(port), dir);
    await until(async () => (await ready()) === 200, 30_000);
    const after = await TestClient.connect(url);
    expect((await after.nextOfType('connection_status')).metadata?.restored).toBe(true);
    await after.close();
  });
});

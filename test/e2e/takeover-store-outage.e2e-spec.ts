import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { StoreServer } from '../helpers/store-server';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

const GRACE_MS = 2_000;
// longer than TAKEOVER_GRACE: every lease runs out in the store meanwhile
const OUTAGE_MS = 3_000;

type Outage = 'stopped' | 'frozen';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A store outage longer than TAKEOVER_GRACE, on two instances sharing the store and Redis: no
// holder can renew its lease meanwhile, so every lease in the store has run out when it answers
// again. A takeover whose admin stayed connected goes on (CONTRACT §4: a lease lapses when its admin
// has had no open connection for TAKEOVER_GRACE); one whose admin left still lapses
// (docs/protocol.md, "Takeover handoff"). Found by the admin audit: the takeover ended `lapsed` as
// soon as the store answered, on the instance that judged first.
describe('takeover leases through a store outage (e2e)', () => {
  jest.setTimeout(120_000);
  let store: StoreServer;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    store = await StoreServer.start('takeover-outage-');
    const shared = {
      TAKEOVER_GRACE: `${GRACE_MS}ms`,
      MONGODB_URI: store.uri('takeover_outage'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    };
    first = await startApp(shared);
    second = await startApp(shared);
  }, 60_000);
  afterAll(async () => {
    await first?.close();
    await second?.close();
    store?.remove();
  });

  const claimOn = (app: RunningApp, sessionId: string, token: string) =>
    fetch(`${app.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(token),
    }).then((response) => response.status);

  const ready = async (app: RunningApp) => (await fetch(`${app.httpUrl}/chat/readyz`)).status === 200;

  // The store goes away for OUTAGE_MS (stopped, or frozen with its sockets open), then comes back;
  // resolves once both instances are ready again.
  async function outage(kind: Outage, meanwhile: () => Promise<void> = async () => undefined) {
    if (kind === 'stopped') await store.stopAsync();
    else store.signal('SIGSTOP');
    await meanwhile();
    await pause(OUTAGE_MS);
    if (kind === 'stopped') await store.startAsync();
    else store.signal('SIGCONT');
    const deadline = Date.now() + 30_000;
    while (!((await ready(first)) && (await ready(second)))) {
      if (Date.now() > deadline) throw new Error('the instances did not find the store again');
      await pause(100);
    }
    return Date.now();
  }

  // the user on the second instance, the admin's socket on the first, joined
  async function takenOver(name: string) {
    const user = await TestClient.connect(`${second.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    const admin = await TestClient.connect(`${first.wsUrl}?token=${adminToken(uniqueUser('admin'), name)}`);
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    await user.nextOfType('admin_join');
    return { user, admin, sessionId };
  }

  it.each<Outage>(['stopped', 'frozen'])(
    'should keep the takeover of an admin who stayed connected through a store %s longer than the grace',
    async (kind) => {
      const { user, admin, sessionId } = await takenOver('Stayed');
      const back = await outage(kind);
      // a whole grace and more after the store is back: every instance has judged the lease by then
      await pause(Math.max(0, back + GRACE_MS + 1_000 - Date.now()));
      const other = adminToken(uniqueUser('admin'), 'Waiting');
      expect(await claimOn(second, sessionId, other)).toBe(409);
      expect(await claimOn(first, sessionId, other)).toBe(409);
      admin.send({ type: 'user_message', client_id: 'after', content: 'still here after the outage' });
      expect(await admin.next((frame) => frame.client_id === 'after')).toMatchObject({
        type: 'ack',
        session_id: sessionId,
      });
      expect(await user.next((frame) => frame.client_id === 'after')).toMatchObject({ sender: 'admin' });
      expect([...user.frames, ...admin.frames].filter((frame) => frame.type === 'admin_leave')).toEqual([]);
      await Promise.all([user.close(), admin.close()]);
    },
  );

  it('should still lapse the takeover of an admin who left during a store outage, once the store is back', async () => {
    const { user, admin, sessionId } = await takenOver('Left');
    const back = await outage('stopped', async () => {
      admin.socket.terminate();
      await pause(200);
    });
    const other = adminToken(uniqueUser('admin'), 'Next');
    let status = await claimOn(second, sessionId, other);
    while (status === 409 && Date.now() - back < 3 * GRACE_MS + 2_000) {
      await pause(200);
      status = await claimOn(second, sessionId, other);
    }
    expect(status).toBe(200);
    // the user is shown the lapse, then the next admin
    expect((await user.nextOfType('admin_leave')).metadata).toMatchObject({ reason: 'lapsed' });
    await user.close();
  });
});

import fc from 'fast-check';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

const GRACE_MS = 2_000;
// TAKEOVER_GRACE plus one renewal period (a quarter of the grace) plus slack for a loaded machine
const LAPSE_BOUND_MS = GRACE_MS + GRACE_MS / 4 + 1_500;

type Ending = 'close-after-ack' | 'terminate-before-ack' | 'silent' | 'leave-then-close';

// A lease whose admin vanished lapses (the user must not wait for a human who is gone): whatever the
// order of REST claims, WS joins, leaves and the way the admin's socket ends, another admin can claim
// the session within TAKEOVER_GRACE plus one renewal period.
describe('takeover lease lapse (e2e)', () => {
  jest.setTimeout(240_000);
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp({ TAKEOVER_GRACE: `${GRACE_MS}ms`, HEARTBEAT_INTERVAL: '30s' });
  });
  afterAll(() => server.close());

  const claim = (sessionId: string, token: string) =>
    fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(token),
    }).then((response) => response.status);

  async function vanish(sessionId: string, restFirst: boolean, ending: Ending): Promise<void> {
    const token = adminToken(uniqueUser('gone'), 'Gone Admin');
    if (restFirst) expect(await claim(sessionId, token)).toBe(200);
    // autoPong off for 'silent': the socket stays open but its admin answers nothing
    const admin = await TestClient.connect(`${server.wsUrl}?token=${token}`, {
      autoPong: ending !== 'silent',
    });
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    if (ending === 'terminate-before-ack') {
      admin.socket.terminate();
      return;
    }
    await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    if (ending === 'leave-then-close') {
      admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'again' });
      await admin.next((frame) => frame.client_id === 'again');
    }
    if (ending === 'silent') {
      // the admin's machine is gone without a FIN: nothing more arrives from it
      admin.socket.pause();
      return;
    }
    admin.socket.terminate();
  }

  async function claimableWithin(sessionId: string, boundMs: number): Promise<number> {
    const started = Date.now();
    const other = adminToken(uniqueUser('next'), 'Next Admin');
    for (;;) {
      const status = await claim(sessionId, other);
      if (status === 200) {
        const waited = Date.now() - started;
        const released = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/release`, {
          method: 'POST',
          headers: authHeaders(other),
        });
        expect(released.status).toBe(200);
        return waited;
      }
      expect(status).toBe(409);
      if (Date.now() - started > boundMs) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it.each<Ending>(['close-after-ack', 'terminate-before-ack', 'silent', 'leave-then-close'])(
    'should let another admin claim within grace + one renewal when the admin socket ends by %s',
    async (ending) => {
      const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      await vanish(sessionId, true, ending);
      expect(await claimableWithin(sessionId, LAPSE_BOUND_MS)).toBeLessThanOrEqual(LAPSE_BOUND_MS);
      await user.close();
    },
  );

  it('should lapse whatever the order of REST claims, joins and ways to vanish (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            restFirst: fc.boolean(),
            ending: fc.constantFrom<Ending>(
              'close-after-ack',
              'terminate-before-ack',
              'silent',
              'leave-then-close',
            ),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        async (admins) => {
          const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
          const sessionId = (await user.nextOfType('connection_status')).session_id as string;
          for (const admin of admins) {
            // each admin comes once the one before has vanished and the lease lapsed
            await vanish(sessionId, admin.restFirst, admin.ending);
            const waited = await claimableWithin(sessionId, LAPSE_BOUND_MS);
            expect(waited).toBeLessThanOrEqual(LAPSE_BOUND_MS);
            // the admin who claimed it to test it gives it back for the next one
          }
          await user.close();
        },
      ),
      { numRuns: 4 },
    );
  });
});

// The same across two instances on one store and one Redis: the admin claims and joins on one,
// vanishes, and an admin on the other instance gets the session within the same bound.
describe('takeover lease lapse across instances (e2e)', () => {
  jest.setTimeout(120_000);
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    const shared = {
      TAKEOVER_GRACE: `${GRACE_MS}ms`,
      MONGODB_URI: mongoUri(),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    };
    first = await startApp(shared);
    second = await startApp(shared);
  });
  afterAll(async () => {
    await first.close();
    await second.close();
  });

  const claimOn = (app: RunningApp, sessionId: string, token: string) =>
    fetch(`${app.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(token),
    }).then((response) => response.status);

  it.each([
    ['claimed and joined on the first, terminated', 'terminate', false],
    ['claimed on the second, joined on the first, silent', 'silent', true],
  ] as const)(
    'should let an admin on the other instance claim when the admin %s',
    async (_, ending, claimElsewhere) => {
      const user = await TestClient.connect(`${second.wsUrl}?token=${userToken(uniqueUser())}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      const gone = adminToken(uniqueUser('gone'), 'Gone Admin');
      expect(await claimOn(claimElsewhere ? second : first, sessionId, gone)).toBe(200);
      const admin = await TestClient.connect(`${first.wsUrl}?token=${gone}`, {
        autoPong: ending !== 'silent',
      });
      await admin.nextOfType('connection_status');
      admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
      await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
      if (ending === 'silent') admin.socket.pause();
      else admin.socket.terminate();
      const started = Date.now();
      const next = adminToken(uniqueUser('next'), 'Next Admin');
      let status = await claimOn(second, sessionId, next);
      while (status === 409 && Date.now() - started <= LAPSE_BOUND_MS) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = await claimOn(second, sessionId, next);
      }
      expect(status).toBe(200);
      expect(Date.now() - started).toBeLessThanOrEqual(LAPSE_BOUND_MS + 500);
      admin.socket.terminate();
      await user.close();
    },
  );
});

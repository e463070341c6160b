import fc from 'fast-check';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
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

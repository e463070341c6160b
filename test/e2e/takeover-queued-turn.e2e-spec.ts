import type { OpenAiFake } from '../fakes/openai-fake';
import type { RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { answerTo, connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import type { TestClient } from '../helpers/ws-client';

// A turn acked before a takeover and queued behind the reply the takeover cuts off is cut before its
// first piece and stores nothing (docs/protocol.md, "Takeover handoff"): nothing of it goes out after
// admin_join, not even its loading frame, and the model is not asked for it. Until a chat audit in
// session 39, with the admin on the other instance, every socket of the session was shown
// `loading: true` for it after admin_join and the vendor was asked (16 of 36 rounds, 6 of 6 runs).
describe('a turn queued when an admin joins is never started (e2e)', () => {
  jest.setTimeout(300_000);
  let instances: TwoInstances;
  let fake: OpenAiFake;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    instances = await startTwoInstances({ chunkSize: 3, delayMs: 8 });
    ({ fake, first, second } = instances);
  });
  afterAll(() => instances?.close());

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // loading:true frames a socket got after it was shown admin_join
  const loadingAfterJoin = (client: TestClient) => {
    const join = client.frames.findIndex((f) => f.type === 'admin_join');
    return join < 0
      ? []
      : client.frames.slice(join + 1).filter((f) => f.type === 'loading' && f.metadata?.loading === true);
  };

  it.each([
    ['the admin on the other instance', () => second],
    ['the admin on the same instance', () => first],
  ])(
    'should show no loading and ask the model nothing for a queued turn once admin_join was shown (%s)',
    async (_label, adminApp) => {
      const failures: string[] = [];
      for (let round = 0; round < 6; round++) {
        const token = userToken(uniqueUser());
        const { client: phone, sessionId } = await connectTo(first, token);
        const { client: admin } = await connectTo(adminApp(), adminToken(uniqueUser('admin'), 'Ann'));
        fake.enqueue({ reply: 'one two three four five six seven eight nine ten eleven twelve', delayMs: 8 });
        fake.enqueue({ reply: 'thirteen fourteen fifteen sixteen seventeen eighteen', delayMs: 8 });
        const before = fake.requests.length;
        // m1, m2 back to back (m2 queued behind m1's reply), the admin joins on the other instance
        phone.send({ type: 'user_message', client_id: 'm1', content: `first ${round}` });
        phone.send({ type: 'user_message', client_id: 'm2', content: `second ${round}` });
        await sleep(round % 3);
        admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'j1' });
        expect((await answerTo(admin, 'j1')).type).toBe('ack');
        const join = await phone.nextOfType('admin_join');
        const joinShownAt = phone.receivedAt(join);
        await sleep(1500);
        const asked = fake.requests
          .slice(before)
          .filter((r) => r.path.endsWith('/chat/completions'))
          .filter((r) => JSON.stringify(r.body).includes(`second ${round}`) && r.receivedAt > joinShownAt);
        if (asked.length)
          failures.push(`round ${round}: model asked ${asked.length}x for m2 after the join was shown`);
        for (const [name, client] of [
          ['phone', phone],
          ['admin', admin],
        ] as const) {
          const late = loadingAfterJoin(client);
          if (late.length)
            failures.push(
              `round ${round}: ${name} shown loading:true for ${late.map((f) => f.client_id)} after admin_join`,
            );
        }
        await Promise.all([phone.close(), admin.close()]);
      }
      expect(failures).toEqual([]);
    },
  );
});

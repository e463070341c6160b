import { BUS, type Bus, type BusHandler } from '../../src/infra/bus/bus';
import { getJson, type SessionBody } from '../helpers/app';
import { connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import { uniqueUser, userToken } from '../helpers/tokens';
import type { Frame } from '../helpers/ws-client';

// Found by a vendors audit in session 40. A user's stop from a device on the other instance carries the time it was sent,
// and "a reply decided after it is not stopped" (docs/protocol.md, "The reply in flight"). When the
// stop reaches the reply's instance late (Redis pub/sub slowed), after the reply it was meant for
// ended on its own (the vendor finished) and the next turn's reply, sent after the stop, has begun,
// that newer reply is cut: ReplyStopper.stop aborts whatever runs, whatever `at` says.
describe('a late stop from the other instance (e2e)', () => {
  jest.setTimeout(60_000);
  let two: TwoInstances;
  const STOP_DELAY_MS = 800;

  beforeAll(async () => {
    two = await startTwoInstances({ chunkSize: 2, delayMs: 40 });
    // the first instance hears the `replies` topic's stops STOP_DELAY_MS late (a slow Redis)
    const bus = two.first.app.get<Bus>(BUS) as unknown as { handlers: Map<string, BusHandler[]> };
    const handlers = bus.handlers.get('replies') ?? [];
    bus.handlers.set(
      'replies',
      handlers.map((handler): BusHandler => (payload, from) => {
        if ((payload as { k?: string }).k === 'stop') setTimeout(() => handler(payload, from), STOP_DELAY_MS);
        else handler(payload, from);
      }),
    );
  });
  afterAll(async () => {
    await two?.close();
  });

  const piece = (frame: Frame) => frame.type === 'ai_response' && frame.metadata?.done === false;
  const final = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;

  it('should not stop a reply decided after the stop was sent', async () => {
    let cut = 0;
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      const token = userToken(uniqueUser());
      const a = await connectTo(two.first, token);
      const b = await connectTo(two.second, token, { session_id: a.sessionId, last_seq: '0' });
      // m1's reply: 5 pieces, ~200 ms; m2's: long
      two.fake.enqueue({ reply: 'one two three four', chunkSize: 4 }, { reply: 'word '.repeat(60) });
      a.client.send({ type: 'user_message', client_id: 'm1', content: 'first' });
      await b.client.next((frame) => piece(frame) && frame.client_id === 'm1', 10_000);
      // the user stops m1's reply from the device on the other instance
      b.client.send({ type: 'stop_generation' });
      const sentStopAt = Date.now();
      await a.client.next(final('m1'), 10_000);
      // the vendor finished m1 before the stop came; the user asks again, after the stop
      a.client.send({ type: 'user_message', client_id: 'm2', content: 'second' });
      await a.client.next((frame) => piece(frame) && frame.client_id === 'm2', 10_000);
      expect(Date.now() - sentStopAt).toBeLessThan(STOP_DELAY_MS);
      const m2 = await a.client.next(final('m2'), 20_000);
      const session = await getJson<SessionBody>(`${two.first.httpUrl}/chat/sessions/${a.sessionId}`, token);
      const reply = session.messages.find(
        (message) => message.type === 'ai_response' && message.client_id === 'm2',
      );
      if (m2.metadata?.stopped === true || reply?.metadata?.stopped === true) cut++;
      await Promise.all([a.client.close(), b.client.close()]);
    }
    expect({ cut, rounds }).toEqual({ cut: 0, rounds });
  });
});

import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { type RunningApp } from '../helpers/app';
import type { Frame, TestClient } from '../helpers/ws-client';
import { api, createRoom, join, say, waitUntil, type RoomFrame, TwoInstances } from './rooms.helpers';

interface AiInfo {
  model: string;
  asker_id: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  outcome: string;
  stopped_by?: string;
  error?: string;
}

// Found by a rooms audit in session 40 (4–12 of 16 rounds, 4 runs): a stop that reached the server as
// the model finished (its last piece streamed, the reply being stored) was acked, and the room was
// told `end` with outcome `stopped`, while the reply was stored and billed `complete`. How a reply
// ended is now decided once, when the model is done (docs/protocol.md, "@ai in a room").
describe('rooms: @ai stopped as it ends (e2e, two instances)', () => {
  jest.setTimeout(90_000);
  let first: RunningApp;
  let second: RunningApp;
  let vendor: OpenAiFake;
  let cluster: TwoInstances;

  beforeAll(async () => {
    vendor = await startOpenAiFake({
      chunkSize: 4,
      delayMs: 2,
      usage: { promptTokens: 40, completionTokens: 7 },
    });
    const models = [
      { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 5 },
      { id: 'slow', name: 'Slow', type: 'demo', delay_ms: 150 },
      {
        id: 'gpt',
        name: 'GPT',
        type: 'openai',
        endpoint: vendor.url,
        api_key: 'sk-test',
        model: 'gpt-test',
        titles: false,
        retry_attempts: 1,
        retry_base_ms: 10,
      },
    ];
    cluster = await TwoInstances.start({ LLM_PROVIDERS: JSON.stringify(models) });
    ({ first, second } = cluster);
  });
  afterAll(async () => {
    await cluster?.close();
    await vendor?.close();
  });

  const person = () => cluster.person();
  const socket = (app: RunningApp, token: string) => cluster.socket(app, token);
  const setModel = (app: RunningApp, token: string, roomId: string, model: string | null) =>
    api(app, token, 'PATCH', `/rooms/${roomId}`, { ai_model: model });
  const streamOf = (client: TestClient, replyId: string) =>
    (client.frames as RoomFrame[]).filter(
      (frame) => frame.type === 'ai_stream' && frame.message_id === replyId,
    );
  const isAiChat = (roomId: string, replyId?: string) => (candidate: Frame) => {
    const frame = candidate as RoomFrame;
    return (
      frame.type === 'chat' &&
      frame.room_id === roomId &&
      frame.user_id === 'ai' &&
      (replyId === undefined || frame.message_id === replyId)
    );
  };

  // A stop that reaches the server while the reply's text is complete but not yet stored (the
  // vendor's last piece streamed, the store writing it): the stop is acked, the room is told
  // `end` with outcome `stopped`, but the message stored (and billed) says `complete`, without
  // `stopped_by`. Every member's view of how the reply ended must be the stored one, and an acked
  // stop must be the one that ended it.
  it("should end a reply one way: the `end` frame's outcome, the stored outcome and the stop's answer agree", async () => {
    const owner = person();
    const asker = person();
    const roomId = await createRoom(first, owner.token);
    expect((await setModel(first, owner.token, roomId, 'gpt')).status).toBe(200);
    const a = await socket(first, asker.token);
    // the owner (a moderator) watches from the other instance
    const o = await socket(second, owner.token);
    await join(a, roomId);
    await join(o, roomId);
    const mismatches: string[] = [];
    const ROUNDS = 16;
    for (let round = 0; round < ROUNDS; round++) {
      vendor.reset();
      vendor.enqueue({ chunks: ['one ', 'two ', 'three ', `LAST${round}`], delayMs: 3 });
      // the stopper: the asker on the streaming instance (even rounds), or the owner on the other
      // (odd), sending ai_stop the instant the last piece arrives
      const stopper = round % 2 === 0 ? a : o;
      const clientId = `stop-${round}`;
      let replyId: string | undefined;
      // a raw listener: the stop leaves the instant the frame is read (no shared cursor)
      const onMessage = (data: unknown) => {
        const f = JSON.parse(String(data)) as RoomFrame;
        if (
          f.type === 'ai_stream' &&
          f.metadata?.phase === 'delta' &&
          String(f.content).includes(`LAST${round}`)
        ) {
          replyId = f.message_id;
          stopper.socket.off('message', onMessage);
          stopper.send({ type: 'ai_stop', room_id: roomId, message_id: f.message_id, client_id: clientId });
        }
      };
      stopper.socket.on('message', onMessage);
      expect((await say(a, roomId, `@ai round ${round}`, `ask-${round}`)).type).toBe('ack');
      const find = (client: TestClient, match: (frame: Frame) => boolean) =>
        client.frames.find(match) as RoomFrame;
      await waitUntil(() => find(stopper, (frame) => frame.client_id === clientId) !== undefined);
      const answer = find(stopper, (frame) => frame.client_id === clientId);
      await waitUntil(() => find(o, isAiChat(roomId, replyId)) !== undefined);
      const stored = find(o, isAiChat(roomId, replyId));
      await waitUntil(() => streamOf(o, replyId as string).some((frame) => frame.metadata?.phase === 'end'));
      const end = streamOf(o, replyId as string).find((frame) => frame.metadata?.phase === 'end');
      const info = stored.metadata?.ai as AiInfo;
      const endOutcome = end?.metadata?.outcome as string;
      const acked = answer.type === 'ack';
      // the asker's stop reaches the streaming instance itself: acked only if it stopped the reply.
      // The owner's, from the other instance, goes over the bus and is acked when sent: one that
      // crosses the end changes nothing, and everyone is told the one outcome stored
      const local = stopper === a;
      if (endOutcome !== info.outcome || (local && acked && info.outcome !== 'stopped'))
        mismatches.push(
          `round ${round}: stop ${acked ? 'acked' : (answer.error as { code: string }).code}, end says ${endOutcome}, stored says ${info.outcome}${info.stopped_by ? ` by ${info.stopped_by}` : ''}`,
        );
    }
    expect(mismatches).toEqual([]);
  });
});

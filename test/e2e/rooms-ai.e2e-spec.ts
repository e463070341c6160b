import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { RoomAiRunsRepository } from '../../src/modules/rooms/room-ai-runs.repository';
import { type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
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

// `@ai` in a room (docs/protocol.md, "@ai in a room") on two instances sharing one store (FerretDB)
// and one Redis: the reply streams to every member on both, is stored once, billed to the room, and
// is stopped by its asker or a moderator from either instance.
describe('@ai in a room across two instances (e2e)', () => {
  jest.setTimeout(60_000);
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
      // about 30 words at 150 ms each: long enough to stop mid-stream
      { id: 'slow', name: 'Slow', type: 'demo', delay_ms: 150 },
      gptModel(vendor, { retry_attempts: 1, retry_base_ms: 10 }),
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
  // a stored AI message (of the room, other than `except`)
  const aiChat =
    (roomId?: string, except?: string) =>
    (candidate: Frame): boolean => {
      const frame = candidate as RoomFrame;
      return (
        frame.type === 'chat' &&
        frame.user_id === 'ai' &&
        (roomId === undefined || frame.room_id === roomId) &&
        (except === undefined || frame.message_id !== except)
      );
    };
  const streamOf = (client: TestClient, roomId: string) =>
    (client.frames as RoomFrame[]).filter((frame) => frame.type === 'ai_stream' && frame.room_id === roomId);
  const aiMessages = (client: TestClient, roomId: string) =>
    (client.frames as RoomFrame[]).filter(
      (frame) => frame.type === 'chat' && frame.room_id === roomId && frame.user_id === 'ai',
    );
  const textOf = (frames: RoomFrame[]) =>
    frames
      .filter((frame) => frame.metadata?.phase === 'delta')
      .map((frame) => frame.content as string)
      .join('');
  const storedAi = async (app: RunningApp, token: string, roomId: string) => {
    const history = await api<{ items: RoomFrame[] }>(
      app,
      token,
      'GET',
      `/rooms/${roomId}/messages?limit=100`,
    );
    return history.body.items.filter((item) => item.user_id === 'ai');
  };
  const setModel = (app: RunningApp, token: string, roomId: string, model: string | null) =>
    api<{ ai_model?: string | null; error?: { code: string } }>(app, token, 'PATCH', `/rooms/${roomId}`, {
      ai_model: model,
    });

  it('should stream the reply to members on both instances, store it once, reach no non-member, and bill the room', async () => {
    const alice = person();
    const bob = person();
    const carol = person();
    const roomId = await createRoom(first, alice.token, 'private', [bob.id]);
    const a = await socket(first, alice.token);
    const b = await socket(second, bob.token);
    const outsider = await socket(second, carol.token);
    await join(a, roomId);
    await join(b, roomId);
    // carol is not invited: she cannot join, and so receives nothing
    outsider.send({ type: 'join', room_id: roomId, client_id: 'j' });
    expect(await outsider.next((frame) => frame.client_id === 'j')).toMatchObject({ type: 'error' });

    await say(b, roomId, 'the meeting moved to 3pm', 'plain');
    const ack = await say(a, roomId, '@ai when is the meeting?', 'ask-1');
    expect(ack).toMatchObject({ type: 'ack', room_id: roomId });
    for (const client of [a, b]) {
      const stored = (await client.next(aiChat(roomId), 10_000)) as RoomFrame;
      expect(stored.metadata).toMatchObject({
        kind: 'text',
        reply_to: ack.message_id,
        ai: { model: 'demo', asker_id: alice.id, outcome: 'complete' },
      });
      const frames = streamOf(client, roomId);
      expect(frames[0].metadata).toMatchObject({
        phase: 'start',
        reply_to: ack.message_id,
        asker_id: alice.id,
      });
      expect(frames.every((frame) => frame.message_id === stored.message_id)).toBe(true);
      // the deltas, in offset order, are exactly the stored text
      expect(textOf(frames)).toBe(stored.content);
      expect(stored.content).toContain('@ai when is the meeting?');
    }
    await waitUntil(() => streamOf(b, roomId).some((frame) => frame.metadata?.phase === 'end'));
    expect(streamOf(b, roomId).at(-1)?.metadata).toMatchObject({ phase: 'end', outcome: 'complete' });
    // stored once, on both instances' reads
    const stored = await storedAi(second, bob.token, roomId);
    expect(stored).toHaveLength(1);
    expect(await storedAi(first, alice.token, roomId)).toEqual(stored);
    expect(aiMessages(a, roomId)).toHaveLength(1);
    expect(aiMessages(b, roomId)).toHaveLength(1);
    // the outsider saw nothing of the room, and cannot stop or read it
    expect(
      (outsider.frames as RoomFrame[]).some((frame) => frame.room_id === roomId && frame.type !== 'error'),
    ).toBe(false);
    outsider.send({ type: 'ai_stop', room_id: roomId, message_id: stored[0].message_id, client_id: 'x' });
    const refused = (await outsider.next((frame) => frame.client_id === 'x')) as RoomFrame;
    expect(refused.type).toBe('error');
    expect((await api(second, carol.token, 'GET', `/rooms/${roomId}/ai-usage`)).status).toBe(404);

    // billed to the room: the sum of the stored replies' usage, for the owner; members are refused
    const info = stored[0].metadata?.ai as AiInfo;
    expect(info.usage.total_tokens).toBeGreaterThan(0);
    const usage = await api<Record<string, unknown>>(second, alice.token, 'GET', `/rooms/${roomId}/ai-usage`);
    expect(usage).toMatchObject({
      status: 200,
      body: {
        room_id: roomId,
        replies: 1,
        total_tokens: info.usage.total_tokens,
        prompt_tokens: info.usage.prompt_tokens,
        by_model: [{ model: 'demo', replies: 1, total_tokens: info.usage.total_tokens }],
      },
    });
    expect((await api(first, bob.token, 'GET', `/rooms/${roomId}/ai-usage`)).status).toBe(403);
    expect(
      (await api(first, adminToken(uniqueUser('admin')), 'GET', `/rooms/${roomId}/ai-usage`)).body,
    ).toMatchObject({
      replies: 1,
    });

    // a second question adds a second record to the sum
    await say(b, roomId, 'thanks @AI, and the place?', 'ask-2');
    await waitUntil(async () => (await storedAi(first, alice.token, roomId)).length === 2);
    const both = await storedAi(first, alice.token, roomId);
    const sum = both.reduce((total, item) => total + (item.metadata?.ai as AiInfo).usage.total_tokens, 0);
    const after = await api<{ replies: number; total_tokens: number }>(
      first,
      alice.token,
      'GET',
      `/rooms/${roomId}/ai-usage`,
    );
    expect(after.body).toMatchObject({ replies: 2, total_tokens: sum });
    // a message without a word-boundary @ai asks nothing
    await say(a, roomId, 'mail bob@ai.example or @aim higher', 'no-ask');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await storedAi(first, alice.token, roomId)).toHaveLength(2);
  });

  it('should refuse a stop from a member who neither asked nor moderates, stop for the asker across instances, and store the partial once', async () => {
    const owner = person();
    const asker = person();
    const other = person();
    const roomId = await createRoom(first, owner.token);
    expect((await setModel(first, owner.token, roomId, 'slow')).body.ai_model).toBe('slow');
    const askerSocket = await socket(second, asker.token);
    // the asker's other device, on the other instance
    const askerOther = await socket(first, asker.token);
    const otherSocket = await socket(first, other.token);
    const ownerSocket = await socket(second, owner.token);
    for (const client of [askerSocket, askerOther, otherSocket, ownerSocket]) await join(client, roomId);

    await say(askerSocket, roomId, '@ai tell me a long story', 'story');
    const start = (await otherSocket.next(
      (frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'start',
    )) as RoomFrame;
    const replyId = start.message_id as string;
    await otherSocket.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'delta');

    // one reply at a time per room: a second @ai meanwhile is stored, acked, and refused AI_BUSY
    const busyAck = await say(ownerSocket, roomId, '@ai me too', 'busy');
    expect(busyAck.type).toBe('ack');
    const busy = (await ownerSocket.next((frame) => frame.type === 'error')) as RoomFrame;
    expect(busy).toMatchObject({ room_id: roomId, error: { code: 'AI_BUSY', recoverable: true } });

    otherSocket.send({ type: 'ai_stop', room_id: roomId, message_id: replyId, client_id: 'stop-1' });
    const forbidden = (await otherSocket.next((frame) => frame.client_id === 'stop-1')) as RoomFrame;
    expect(forbidden).toMatchObject({ type: 'error', error: { code: 'FORBIDDEN', recoverable: true } });

    // the asker stops it from the instance that is not streaming it
    askerOther.send({ type: 'ai_stop', room_id: roomId, message_id: replyId, client_id: 'stop-2' });
    expect(await askerOther.next((frame) => frame.client_id === 'stop-2')).toMatchObject({
      type: 'ack',
      message_id: replyId,
    });
    const stored = (await otherSocket.next(aiChat(), 10_000)) as RoomFrame;
    expect(stored.message_id).toBe(replyId);
    expect(stored.metadata?.ai).toMatchObject({ outcome: 'stopped', stopped_by: asker.id, model: 'slow' });
    const partial = stored.content as string;
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(150);
    // what the others saw streaming is what was stored
    await waitUntil(() => streamOf(otherSocket, roomId).some((frame) => frame.metadata?.phase === 'end'));
    expect(textOf(streamOf(otherSocket, roomId))).toBe(partial);
    expect(streamOf(otherSocket, roomId).at(-1)?.metadata).toMatchObject({
      phase: 'end',
      outcome: 'stopped',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await storedAi(second, owner.token, roomId)).toHaveLength(1);
    // the room is free again
    await say(askerSocket, roomId, '@ai again', 'again');
    await askerSocket.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'start');
    const again = streamOf(askerSocket, roomId).at(-1)?.message_id;
    // the room owner (a moderator) stops someone else's reply
    ownerSocket.send({ type: 'ai_stop', room_id: roomId, message_id: again, client_id: 'stop-3' });
    expect(await ownerSocket.next((frame) => frame.client_id === 'stop-3')).toMatchObject({ type: 'ack' });
    const second2 = (await askerSocket.next(
      (frame) => aiChat(roomId)(frame) && (frame as RoomFrame).message_id === again,
      10_000,
    )) as RoomFrame;
    expect(second2.metadata?.ai).toMatchObject({ outcome: 'stopped', stopped_by: owner.id });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await storedAi(first, owner.token, roomId)).toHaveLength(2);
    // a stop of a reply that ended is refused, recoverably
    ownerSocket.send({ type: 'ai_stop', room_id: roomId, message_id: again, client_id: 'stop-4' });
    expect(await ownerSocket.next((frame) => frame.client_id === 'stop-4')).toMatchObject({
      type: 'error',
      error: { code: 'NOT_FOUND', recoverable: true },
    });
  });

  it('should free the room before the reply is heard to end: a fast client asks again the instant it sees it', async () => {
    const owner = person();
    const friend = person();
    const roomId = await createRoom(first, owner.token);
    const o = await socket(first, owner.token);
    const f = await socket(second, friend.token);
    await join(o, roomId);
    await join(f, roomId);
    // a slow store: a run's release takes 300 ms, on both instances
    const slowed = [first, second].map((app) => {
      const runs = app.app.get(RoomAiRunsRepository);
      const release = runs.finish.bind(runs);
      return jest.spyOn(runs, 'finish').mockImplementation(async (room, reply) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        await release(room, reply);
      });
    });
    try {
      await say(o, roomId, '@ai one', 'fast-1');
      // the stored reply: asked again at once, from the other instance
      const one = (await f.next(aiChat(roomId), 10_000)) as RoomFrame;
      expect(await say(f, roomId, '@ai two', 'fast-2')).toMatchObject({ type: 'ack' });
      const two = (await f.next(aiChat(roomId, one.message_id), 10_000)) as RoomFrame;
      // the end of the stream: asked again at once, on the same instance
      await o.next(
        (frame) =>
          (frame as RoomFrame).type === 'ai_stream' &&
          (frame as RoomFrame).message_id === two.message_id &&
          (frame as RoomFrame).metadata?.phase === 'end',
        10_000,
      );
      expect(await say(o, roomId, '@ai three', 'fast-3')).toMatchObject({ type: 'ack' });
      const three = (await o.next(
        (frame) =>
          aiChat(roomId)(frame) &&
          ![one, two].some((seen) => seen.message_id === (frame as RoomFrame).message_id),
        10_000,
      )) as RoomFrame;
      for (const reply of [one, two, three])
        expect((reply.metadata?.ai as AiInfo | undefined)?.outcome).toBe('complete');
      // a failed reply's error (recoverable): asked again at once
      await setModel(first, owner.token, roomId, 'gpt');
      vendor.reset();
      vendor.enqueue({ status: 500 });
      expect(await say(f, roomId, '@ai four', 'fast-4')).toMatchObject({ type: 'ack' });
      expect(await f.next((frame) => frame.type === 'error', 10_000)).toMatchObject({
        room_id: roomId,
        error: { code: 'LLM_UNAVAILABLE', recoverable: true },
      });
      expect(await say(f, roomId, '@ai five', 'fast-5')).toMatchObject({ type: 'ack' });
      const five = (await f.next(
        (frame) =>
          aiChat(roomId)(frame) &&
          (frame as RoomFrame).metadata?.reply_to !== undefined &&
          (frame.metadata as { ai?: AiInfo }).ai?.outcome === 'complete' &&
          ![one, two, three].some((seen) => seen.message_id === (frame as RoomFrame).message_id),
        10_000,
      )) as RoomFrame;
      expect((five.metadata?.ai as AiInfo | undefined)?.model).toBe('gpt');
      const refused = [...o.frames, ...f.frames].filter(
        (frame) =>
          frame.type === 'error' &&
          (frame as RoomFrame).room_id === roomId &&
          (frame as RoomFrame).error?.code !== 'LLM_UNAVAILABLE',
      );
      expect(refused).toEqual([]);
    } finally {
      for (const spy of slowed) spy.mockRestore();
    }
  });

  it('should keep the model a room setting: validated, for moderators, and off refuses @ai with AI_OFF', async () => {
    const owner = person();
    const member = person();
    const roomId = await createRoom(first, owner.token);
    const room = await api<{ ai_model: string | null }>(first, owner.token, 'GET', `/rooms/${roomId}`);
    expect(room.body.ai_model).toBeNull();
    expect(await setModel(first, owner.token, roomId, 'nope')).toMatchObject({
      status: 400,
      body: { error: { code: 'UNKNOWN_MODEL' } },
    });
    const m = await socket(second, member.token);
    await join(m, roomId);
    expect((await setModel(second, member.token, roomId, 'off')).status).toBe(403);
    expect((await setModel(second, owner.token, roomId, 'off')).body.ai_model).toBe('off');
    const ack = await say(m, roomId, '@ai hello?', 'off-1');
    expect(ack.type).toBe('ack');
    expect(await m.next((frame) => frame.type === 'error')).toMatchObject({
      room_id: roomId,
      error: { code: 'AI_OFF', recoverable: true },
    });
    expect(streamOf(m, roomId)).toHaveLength(0);
    // back to the default model
    expect((await setModel(first, owner.token, roomId, null)).body.ai_model).toBeNull();
    await say(m, roomId, '@ai hello now', 'on-1');
    const stored = (await m.next(aiChat(), 10_000)) as RoomFrame;
    expect(stored.metadata?.ai).toMatchObject({ model: 'demo', outcome: 'complete' });
  });

  it("should ask a vendor with the room's history by speaker, and end a failed reply with an error and a stored marker", async () => {
    const owner = person();
    const friend = person();
    const roomId = await createRoom(first, owner.token);
    await setModel(first, owner.token, roomId, 'gpt');
    const o = await socket(first, owner.token);
    const f = await socket(second, friend.token);
    await join(o, roomId);
    await join(f, roomId);
    await say(f, roomId, 'I like tea', 'h1');
    vendor.reset();
    await say(o, roomId, '@ai what does my friend like?', 'h2');
    const stored = (await f.next(aiChat(), 10_000)) as RoomFrame;
    expect(stored.metadata?.ai).toMatchObject({
      model: 'gpt',
      outcome: 'complete',
      usage: { prompt_tokens: 40, completion_tokens: 7, total_tokens: 47 },
    });
    const sent = JSON.stringify(vendor.requests[0].body.messages);
    expect(sent).toContain(`${friend.id}: I like tea`);
    expect(sent).toContain(`${owner.id}: @ai what does my friend like?`);

    vendor.enqueue({ status: 500 });
    await say(f, roomId, '@ai are you there?', 'h3');
    const error = (await f.next((frame) => frame.type === 'error', 10_000)) as RoomFrame;
    expect(error).toMatchObject({ room_id: roomId, error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    const marker = (await o.next(aiChat(roomId, stored.message_id), 10_000)) as RoomFrame;
    expect(marker.content).toBeUndefined();
    expect(marker.metadata?.ai).toMatchObject({
      outcome: 'failed',
      error: 'LLM_UNAVAILABLE',
      usage: { total_tokens: 0 },
    });
    await waitUntil(() =>
      streamOf(o, roomId).some(
        (frame) => frame.message_id === marker.message_id && frame.metadata?.phase === 'end',
      ),
    );
    // and the room is free for the next question
    await say(f, roomId, '@ai now?', 'h4');
    const next = (await f.next(
      (frame) =>
        aiChat(roomId, stored.message_id)(frame) && (frame as RoomFrame).message_id !== marker.message_id,
      10_000,
    )) as RoomFrame;
    expect(next.metadata?.ai).toMatchObject({ outcome: 'complete' });
  });
  // a member kicked while their question is answered hears nothing more of the room, its failure
  // included (the second rooms audit: the asker's socket got LLM_UNAVAILABLE naming the room)
  it('should not tell an asker kicked during the reply that it failed', async () => {
    const owner = person();
    const asker = person();
    const roomId = await createRoom(first, owner.token);
    await setModel(first, owner.token, roomId, 'gpt');
    const o = await socket(first, owner.token);
    const a = await socket(second, asker.token);
    await join(o, roomId);
    await join(a, roomId);
    vendor.reset();
    // a few pieces, slowly, then the stream is cut
    vendor.enqueue({ reply: 'one two three four five six', chunkSize: 4, delayMs: 150, cutAfterChunks: 4 });
    await say(a, roomId, '@ai count for me', 'k1');
    await o.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'delta', 10_000);
    expect(
      (await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/kick`, { user_id: asker.id }))
        .status,
    ).toBe(200);
    // the reply ends for the room (its marker stored), failed
    const marker = (await o.next(aiChat(roomId), 10_000)) as RoomFrame;
    expect(marker.metadata?.ai).toMatchObject({ outcome: 'interrupted' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      a.frames.filter((frame) => frame.type === 'error' && (frame as RoomFrame).room_id === roomId),
    ).toEqual([]);
  });

  it("should let no person edit or delete the AI's reply as their own, not even one whose id is 'ai', nor anyone the room's notices", async () => {
    const owner = person();
    const roomId = await createRoom(first, owner.token, 'public');
    const o = await socket(first, owner.token);
    const impostorToken = userToken('ai');
    const impostor = await socket(second, impostorToken);
    await join(o, roomId);
    const joined = await join(impostor, roomId);
    await say(o, roomId, '@ai hello', 'ai-user-1');
    const reply = (await o.next(aiChat(roomId), 10_000)) as RoomFrame;
    let sent = 0;
    const answer = async (frame: Record<string, unknown>) => {
      const clientId = `ai-user-q${++sent}`;
      impostor.send({ ...frame, client_id: clientId });
      return (await impostor.next(
        (candidate) =>
          candidate.client_id === clientId && (candidate.type === 'ack' || candidate.type === 'error'),
      )) as RoomFrame;
    };
    const edit = {
      type: 'edit',
      room_id: roomId,
      message_id: reply.message_id,
      content: 'send me your password',
    };
    expect((await answer(edit)).error).toMatchObject({ code: 'FORBIDDEN', recoverable: true });
    const remove = { type: 'delete', room_id: roomId, message_id: reply.message_id };
    expect((await answer(remove)).error).toMatchObject({ code: 'FORBIDDEN', recoverable: true });
    // the person 'ai' still edits their own message
    const own = await say(impostor, roomId, 'I am a person', 'ai-user-2');
    expect((await answer({ ...edit, message_id: own.message_id, content: 'still a person' })).type).toBe(
      'ack',
    );
    // a room's notice (the impostor's own join) is deleted by nobody, a moderator or admin included
    const notice = (
      await api<{ items: RoomFrame[] }>(first, owner.token, 'GET', `/rooms/${roomId}/messages`)
    ).body.items.find((item) => item.metadata?.kind === 'system' && item.user_id === 'ai');
    expect(notice).toBeDefined();
    expect((await answer({ ...remove, message_id: notice?.message_id })).error?.code).toBe('FORBIDDEN');
    const admin = await socket(first, adminToken(uniqueUser()));
    admin.send({ ...remove, message_id: notice?.message_id, client_id: 'admin-del' });
    expect(((await admin.next((frame) => frame.client_id === 'admin-del')) as RoomFrame).error?.code).toBe(
      'FORBIDDEN',
    );
    const stored = (await storedAi(first, owner.token, roomId)).find(
      (item) => item.message_id === reply.message_id,
    );
    expect(stored).toMatchObject({ content: reply.content });
    expect(stored?.metadata?.edited_at).toBeUndefined();
    expect(stored?.metadata?.deleted).toBeUndefined();
    expect(joined.type).toBe('join');
  });

  // Found by a rooms audit in session 40 (4–12 of 16 rounds, 4 runs): a stop that reached the server
  // as the model finished (its last piece streamed, the reply being stored) was acked, and the room
  // was told `end` with outcome `stopped`, while the reply was stored and billed `complete`. How a
  // reply ended is now decided once, when the model is done (docs/protocol.md, "@ai in a room").
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
      const ofReply = (match: (frame: Frame) => boolean) => (frame: Frame) =>
        match(frame) && (frame as RoomFrame).message_id === replyId;
      const replyStream = (client: TestClient) =>
        streamOf(client, roomId).filter((frame) => frame.message_id === replyId);
      const find = (client: TestClient, match: (frame: Frame) => boolean) =>
        client.frames.find(match) as RoomFrame;
      await waitUntil(() => find(stopper, (frame) => frame.client_id === clientId) !== undefined);
      const answer = find(stopper, (frame) => frame.client_id === clientId);
      await waitUntil(() => find(o, ofReply(aiChat(roomId))) !== undefined);
      const stored = find(o, ofReply(aiChat(roomId)));
      await waitUntil(() => replyStream(o).some((frame) => frame.metadata?.phase === 'end'));
      const end = replyStream(o).find((frame) => frame.metadata?.phase === 'end');
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

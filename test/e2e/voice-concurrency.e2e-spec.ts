import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { WAV } from './uploads.fixtures';
import { upload } from './uploads.helpers';

const TRANSCRIPTIONS = '/v1/audio/transcriptions';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Voice messages while their transcription is slow (docs/protocol.md, "Uploads and files" and
// "Frames"): transcriptions in flight are bounded per user and per instance, an auth_refresh is not
// held behind one, and a resend of one still in flight is not transcribed again.
describe('voice messages during a slow transcription (e2e)', () => {
  let openai: OpenAiFake;
  let server: RunningApp;
  const uploadDir = mkdtempSync(join(tmpdir(), 'chatbox-voice-slow-'));

  beforeAll(async () => {
    openai = await startOpenAiFake({ transcript: 'Hello there' });
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      VOICE_TRANSCRIPTIONS_MAX: '2',
      LLM_PROVIDERS: JSON.stringify([gptModel(openai)]),
    });
  });
  afterAll(async () => {
    await server.close();
    await openai.close();
    rmSync(uploadDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    openai.reset();
    openai.script.transcriptDelayMs = undefined;
  });

  const transcriptions = () => openai.requests.filter((request) => request.path === TRANSCRIPTIONS).length;
  const transcribing = async () => {
    while (transcriptions() === 0) await sleep(20);
  };
  const answerTo = (client: TestClient, clientId: string, timeoutMs = 15_000) =>
    client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      timeoutMs,
    );

  async function uploadWav(token: string): Promise<string> {
    const { status, body } = await upload(server.httpUrl, token, WAV, 'voice.wav', 'audio/wav');
    expect(status).toBe(201);
    return body.file_id;
  }

  async function connect(token: string, query = ''): Promise<{ client: TestClient; sessionId: string }> {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}${query}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string };
  }

  async function voiceMessages(sessionId: string, token: string) {
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    return session.messages.filter((message) => message.type === 'voice_message');
  }

  // the audit: 4 sockets of one user naming one 24 MB WAV grew the server ~96 MB per transcription
  it("should have at most one of a user's voice messages at the vendor, the rest waiting or refused and none lost", async () => {
    const token = userToken(uniqueUser());
    const fileId = await uploadWav(token);
    const sockets = [];
    for (let index = 0; index < 4; index++) sockets.push(await connect(token));
    openai.script.transcriptDelayMs = 800;
    sockets.forEach(({ client }, index) =>
      client.send({ type: 'voice_message', client_id: `v${index}`, file_id: fileId }),
    );
    const answers = await Promise.all(sockets.map(({ client }, index) => answerTo(client, `v${index}`)));
    // one at the vendor; two waited for it (without the file's bytes); the fourth was refused
    const refused = answers.filter((frame) => frame.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const frame of refused)
      expect(frame.error).toMatchObject({
        code: 'RATE_LIMITED',
        recoverable: true,
        retry_after: expect.any(Number),
      });
    expect(openai.mostOpen.get(TRANSCRIPTIONS)).toBe(1);
    // the refused ones, sent again, are transcribed and stored: every one once
    for (const [index, frame] of answers.entries()) {
      if (frame.type !== 'error') continue;
      const { client } = sockets[index];
      client.send({ type: 'voice_message', client_id: `v${index}`, file_id: fileId });
      expect((await answerTo(client, `v${index}`)).type).toBe('ack');
    }
    expect(transcriptions()).toBe(4);
    const stored = await voiceMessages(sockets[0].sessionId, token);
    expect(stored.map((message) => message.client_id).sort()).toEqual(['v0', 'v1', 'v2', 'v3']);
    await Promise.all(sockets.map(({ client }) => client.close()));
  });

  it('should have at most VOICE_TRANSCRIPTIONS_MAX voice messages at the vendor on an instance, the others waiting', async () => {
    const users = [];
    for (let index = 0; index < 3; index++) {
      const token = userToken(uniqueUser());
      users.push({ token, fileId: await uploadWav(token), ...(await connect(token)) });
    }
    openai.script.transcriptDelayMs = 800;
    users.forEach(({ client, fileId }) =>
      client.send({ type: 'voice_message', client_id: 'v', file_id: fileId }),
    );
    const answers = await Promise.all(users.map(({ client }) => answerTo(client, 'v')));
    expect(answers.map((frame) => frame.type)).toEqual(['ack', 'ack', 'ack']);
    expect(openai.mostOpen.get(TRANSCRIPTIONS)).toBe(2);
    for (const { sessionId, token } of users) expect(await voiceMessages(sessionId, token)).toHaveLength(1);
    await Promise.all(users.map(({ client }) => client.close()));
  });

  // the audit: a token expiring in 12 s, the vendor taking 20 s, auth_refresh sent after 1 s: the
  // socket was closed 4401 "Token expired." and the typed message never acked
  it('should take an auth_refresh at once while a voice message is being transcribed, and keep the socket', async () => {
    const user = uniqueUser();
    const fileId = await uploadWav(userToken(user));
    const { client } = await connect(userToken(user, { expiresInSeconds: 3 }));
    openai.enqueue({ transcriptDelayMs: 4500 });
    client.send({ type: 'voice_message', client_id: 'v1', file_id: fileId });
    await transcribing();
    client.send({
      type: 'auth_refresh',
      client_id: 'r1',
      content: userToken(user, { expiresInSeconds: 3600 }),
    });
    client.send({ type: 'user_message', client_id: 'm1', content: 'typed meanwhile' });
    const refreshed = await answerTo(client, 'r1', 2000);
    expect(refreshed.type).toBe('ack');
    // past the old token's expiry, the transcription still running: the socket is open
    await sleep(3500);
    expect(client.closeCode).toBeUndefined();
    expect(client.frames.some((frame: Frame) => frame.client_id === 'v1')).toBe(false);
    // the conversation's frames kept their order: the voice message, then the typed one
    const voice = await answerTo(client, 'v1');
    const typed = await answerTo(client, 'm1');
    expect([voice.type, typed.type]).toEqual(['ack', 'ack']);
    expect(Number(typed.seq)).toBeGreaterThan(Number(voice.seq));
    expect(client.closeCode).toBeUndefined();
    await client.close();
  });

  // a refused refresh closes the socket in its place: the frames sent before it are handled first
  // (the fixes audit of session 34: closed at once, a typed message sent before it never handled)
  it('should handle the frames sent before a refused auth_refresh, then close the socket', async () => {
    const user = uniqueUser();
    const fileId = await uploadWav(userToken(user));
    const { client } = await connect(userToken(user));
    openai.enqueue({ transcriptDelayMs: 1500 });
    client.send({ type: 'voice_message', client_id: 'v1', file_id: fileId });
    await transcribing();
    client.send({ type: 'user_message', client_id: 'm1', content: 'typed before the refresh' });
    client.send({ type: 'auth_refresh', client_id: 'r1', content: userToken(uniqueUser()) });
    client.send({ type: 'user_message', client_id: 'm2', content: 'typed after the refresh' });
    const refused = await answerTo(client, 'r1', 10_000);
    expect(refused.error?.code).toBe('UNAUTHORIZED');
    const answered = client.frames
      .filter((frame: Frame) => frame.type === 'ack' || frame.type === 'error')
      .map((frame: Frame) => `${frame.type}/${String(frame.client_id)}`);
    expect(answered).toEqual(['ack/v1', 'ack/m1', 'error/r1']);
    await client.closed;
    expect(client.closeCode).toBe(4401);
  });

  // the audit: a resend (same client_id) after a cut socket, the first still at the vendor, was
  // transcribed (billed) twice
  it('should not transcribe again a voice message resent while its first copy is being transcribed', async () => {
    const token = userToken(uniqueUser());
    const fileId = await uploadWav(token);
    const first = await connect(token);
    openai.enqueue({ transcriptDelayMs: 1500 });
    first.client.send({ type: 'voice_message', client_id: 'same', file_id: fileId });
    await transcribing();
    first.client.socket.terminate();
    const second = await connect(token, `&session_id=${first.sessionId}`);
    second.client.send({ type: 'voice_message', client_id: 'same', file_id: fileId });
    expect((await answerTo(second.client, 'same')).type).toBe('ack');
    // answered once, whether the reply streamed before the resend's ack or after it
    while (
      !second.client.frames.some((frame) => frame.type === 'ai_response' && frame.metadata?.done === true)
    )
      await sleep(20);
    await sleep(300);
    expect(transcriptions()).toBe(1);
    expect(await voiceMessages(first.sessionId, token)).toHaveLength(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${first.sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toHaveLength(1);
    await second.client.close();
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDifyFake, type DifyFake } from '../fakes/dify-fake';
import { gptModel, startOpenAiFake, type OpenAiFake, type OpenAiScript } from '../fakes/openai-fake';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { filesUnder } from './uploads.helpers';

// A short silent 16-bit mono WAV: what a browser recording looks like to the upload type sniffing.
function silentWav(samples = 800): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples * 2, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples * 2, 40);
  return Buffer.concat([header, Buffer.alloc(samples * 2)]);
}

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

// Voice messages (uploaded audio → transcription → answer), speech of replies (tts) and files the AI
// produced, stored through the uploads module's FILE_STORE or kept as links.
describe('voice, speech and AI files (e2e)', () => {
  let openai: OpenAiFake;
  let dify: DifyFake;
  let files: Server;
  let filesHost: string;
  let server: RunningApp;
  const uploadDir = mkdtempSync(join(tmpdir(), 'chatbox-voice-'));

  beforeAll(async () => {
    openai = await startOpenAiFake({ transcript: 'What is the weather in Paris?', chunkSize: 6 });
    dify = await startDifyFake({ transcript: 'Bonjour Dify' });
    files = createServer((request, response) => {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(PNG);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesHost = `127.0.0.1:${(files.address() as AddressInfo).port}`;
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      LLM_PROVIDERS: JSON.stringify([
        gptModel(openai, { tts: { voice: 'nova', format: 'wav' }, file_hosts: [filesHost] }),
        gptModel(openai, { id: 'gpt-plain', name: 'GPT plain' }),
        {
          id: 'dify',
          name: 'Dify',
          type: 'dify',
          endpoint: dify.url,
          api_key: 'app-test',
          file_hosts: [filesHost],
        },
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 1 },
      ]),
    });
  });
  afterAll(async () => {
    await server.close();
    await openai.close();
    await dify.close();
    await new Promise<void>((resolve) => files.close(() => resolve()));
    rmSync(uploadDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    openai.reset();
    dify.reset();
  });

  async function upload(token: string, data: Buffer, name: string, type: string): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)], { type }), name);
    const response = await fetch(`${server.httpUrl}/chat/uploads`, {
      method: 'POST',
      headers: authHeaders(token),
      body: form,
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { file_id: string }).file_id;
  }

  async function connect(modelId: string) {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    if (modelId !== 'gpt') {
      client.send({ type: 'model_select', model_id: modelId });
      await client.nextOfType('model_select');
    }
    return { client, token, sessionId: status.session_id as string };
  }

  it('should transcribe a voice message with OpenAI, show the transcript, answer it and speak the answer', async () => {
    const { client, token, sessionId } = await connect('gpt');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    client.send({ type: 'voice_message', client_id: 'v1', file_id: fileId });
    const ack = await client.nextOfType('ack');
    expect(ack.client_id).toBe('v1');
    const echoed = await client.nextOfType('voice_message');
    expect(echoed).toMatchObject({ id: ack.id, content: 'What is the weather in Paris?', sender: 'user' });
    expect(echoed.metadata?.transcript).toBe('What is the weather in Paris?');
    const { final } = await client.reply();
    expect(final.content).toBe('Echo: What is the weather in Paris?');

    const transcription = openai.requests.find((request) => request.path.endsWith('/audio/transcriptions'));
    expect(transcription?.form?.fields.model).toBe('whisper-1');
    expect(transcription?.form?.files.file.size).toBe(silentWav().length);
    const speech = openai.requests.find((request) => request.path.endsWith('/audio/speech'));
    expect(speech?.body).toMatchObject({ voice: 'nova', response_format: 'wav', input: final.content });

    const attachments = final.metadata?.attachments as Array<Record<string, unknown>>;
    expect(attachments).toEqual([
      expect.objectContaining({
        kind: 'audio',
        source: 'tts',
        mime_type: 'audio/wav',
        file_id: expect.any(String),
      }),
    ]);
    expect(attachments[0].file_url).toBe(`/chat/files/${String(attachments[0].file_id)}`);
    const link = await getJson<{ url: string }>(
      `${server.httpUrl}${String(attachments[0].file_url)}?redirect=false`,
      token,
    );
    const audio = Buffer.from(await (await fetch(new URL(link.url, server.httpUrl))).arrayBuffer());
    expect(audio.subarray(0, 4).toString('ascii')).toBe('RIFF');

    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const voice = session.messages.find((message) => message.type === 'voice_message');
    expect(voice).toMatchObject({ content: 'What is the weather in Paris?' });
    expect(voice?.metadata).toMatchObject({ transcript: 'What is the weather in Paris?' });
    expect(session.name).toContain('weather in Paris');
    await client.close();
  });

  // Found by the uploads black-box audit in session 41: a stop after the text had streamed waited
  // for the whole speech (3 s there; up to SPEECH_TIMEOUT_MS), and the reply was stored with it, not
  // flagged stopped
  it('should end the speech of a reply at a stop_generation, and store the text flagged stopped', async () => {
    const { client, token, sessionId } = await connect('gpt');
    const aborted = openai.aborted;
    // the completion at once, the speech (the second request) only after 20 s
    openai.enqueue({}, { initialDelayMs: 20_000 });
    client.send({ type: 'user_message', client_id: 's1', content: 'say it aloud' });
    await client.next((frame) => frame.type === 'ack' && frame.client_id === 's1');
    await openai.waitForRequests(2, 5000);
    expect(openai.requests[1].path).toMatch(/\/audio\/speech$/);
    client.send({ type: 'stop_generation' });
    await openai.waitForAbort(aborted + 1, 5000);
    const { final } = await client.reply(5000);
    expect(final.content).toBe('Echo: say it aloud');
    expect(final.metadata?.stopped).toBe(true);
    expect(final.metadata?.attachments).toBeUndefined();
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const stored = session.messages.filter((message) => message.type === 'ai_response');
    expect(stored).toHaveLength(1);
    expect(stored[0].metadata).toMatchObject({ stopped: true });
    expect(stored[0].metadata?.attachments).toBeUndefined();
    await client.close();
  });

  it('should transcribe with Dify audio-to-text for a Dify model and send the transcript as the query', async () => {
    const { client, token } = await connect('dify');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    client.send({ type: 'voice_message', client_id: 'v2', file_id: fileId });
    expect((await client.nextOfType('voice_message')).metadata?.transcript).toBe('Bonjour Dify');
    expect((await client.reply()).final.content).toBe('Echo: Bonjour Dify');
    const audio = dify.requests.find((request) => request.path === '/v1/audio-to-text');
    expect(audio?.form?.files.file.size).toBeGreaterThan(44);
    expect(audio?.form?.fields.user).toBeDefined();
    expect(dify.chatCalls[0].query).toBe('Bonjour Dify');
    await client.close();
  });

  it('should refuse voice for a model that cannot transcribe, a file that is not audio, and a foreign file', async () => {
    const { client, token, sessionId } = await connect('demo');
    const wav = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    client.send({ type: 'voice_message', client_id: 'd1', file_id: wav });
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'FILE_REJECTED',
      recoverable: true,
    });
    client.send({ type: 'model_select', model_id: 'gpt-plain' });
    await client.nextOfType('model_select');
    const png = await upload(token, PNG, 'image.png', 'image/png');
    client.send({ type: 'voice_message', client_id: 'd2', file_id: png });
    expect((await client.nextOfType('error')).error?.code).toBe('FILE_REJECTED');
    const foreign = await upload(userToken(uniqueUser()), silentWav(), 'other.wav', 'audio/wav');
    client.send({ type: 'voice_message', client_id: 'd3', file_id: foreign });
    expect((await client.nextOfType('error')).error?.code).toBe('NOT_FOUND');
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages).toHaveLength(0);
    await client.close();
  });

  it('should store nothing when transcription fails, and accept the same file again', async () => {
    const { client, token, sessionId } = await connect('gpt-plain');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    openai.enqueue({ status: 500 });
    client.send({ type: 'voice_message', client_id: 'f1', file_id: fileId });
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'LLM_UNAVAILABLE',
      recoverable: true,
    });
    expect(
      (await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token)).messages,
    ).toHaveLength(0);
    client.send({ type: 'voice_message', client_id: 'f1', file_id: fileId });
    expect((await client.nextOfType('voice_message')).client_id).toBe('f1');
    await client.reply();
    await client.close();
  });

  // Found by the speech black-box audit in session 42 (3 of 3): a transcription's 429 with
  // `retry-after: 120` reached the client as LLM_UNAVAILABLE with no retry_after, where the same
  // answer to a typed message's reply gives retry_after 120000
  it("should pass the transcription vendor's retry-after on as the error's retry_after, OpenAI and Dify", async () => {
    const { client, token, sessionId } = await connect('gpt-plain');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    openai.enqueue({ status: 429, retryAfter: 120 });
    client.send({ type: 'voice_message', client_id: 'r1', file_id: fileId });
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'LLM_UNAVAILABLE',
      recoverable: true,
      retry_after: 120_000,
    });
    client.send({ type: 'model_select', model_id: 'dify' });
    await client.nextOfType('model_select');
    dify.enqueue({ status: 429, retryAfter: 30 });
    client.send({ type: 'voice_message', client_id: 'r2', file_id: fileId });
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'LLM_UNAVAILABLE',
      recoverable: true,
      retry_after: 30_000,
    });
    expect(
      (await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token)).messages,
    ).toHaveLength(0);
    await client.close();
  });

  // Found by the speech black-box audit in session 42 (3 of 3): a transcript holding a lone
  // surrogate (JSON's `\ud800`) was echoed to the sender as it came and stored as U+FFFD
  it('should show the sender the transcript as it is stored when the vendor sends a lone surrogate', async () => {
    const { client, token, sessionId } = await connect('gpt-plain');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    openai.enqueue({ transcript: 'pay A\uD800B now' });
    client.send({ type: 'voice_message', client_id: 'u1', file_id: fileId });
    const echoed = await client.nextOfType('voice_message');
    expect(echoed.content).toBe('pay A\uFFFDB now');
    expect(echoed.metadata?.transcript).toBe('pay A\uFFFDB now');
    await client.reply();
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const stored = session.messages.find((message) => message.type === 'voice_message');
    expect(stored?.content).toBe(echoed.content);
    await client.close();
  });

  // Found by the speech black-box audit in session 42 (3 of 3): a 200 from /audio/speech whose
  // body was not audio (a page labelled audio, a JSON error body) was kept as the reply's speech,
  // `{kind: file, source: tts, name: reply.txt, mime_type: text/plain}`, in the user's files and quota
  it('should keep no speech that is not audio, and store and deliver the reply whole', async () => {
    const { client, token, sessionId } = await connect('gpt');
    const before = filesUnder(uploadDir).length;
    const cases: Array<[string, Partial<OpenAiScript>, unknown]> = [
      // labelled audio: stored by its content, which is text, so dropped as uploads drop it
      [
        'page as audio',
        { speechAudio: Buffer.from('<html><body>gateway says hi</body></html>') },
        [{ kind: 'audio', source: 'tts', dropped: 'type' }],
      ],
      // labelled JSON: no speech at all
      [
        'json 200',
        { speechAudio: Buffer.from('{"error":{"message":"nope"}}'), speechType: 'application/json' },
        undefined,
      ],
    ];
    for (const [name, speech, attachments] of cases) {
      // the completion, then the speech
      openai.enqueue({}, speech);
      client.send({ type: 'user_message', client_id: name, content: 'say it aloud' });
      const { final } = await client.reply();
      expect({ name, content: final.content, attachments: final.metadata?.attachments }).toEqual({
        name,
        content: 'Echo: say it aloud',
        attachments,
      });
    }
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toHaveLength(2);
    // nothing of either kept in the user's files
    expect(filesUnder(uploadDir).length).toBe(before);
    await client.close();
  });

  it('should answer a resend of a stored voice message with the stored copy, transcribing nothing again', async () => {
    const { client, token, sessionId } = await connect('gpt-plain');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    const transcriptions = () =>
      openai.requests.filter((request) => request.path.endsWith('/audio/transcriptions')).length;
    const answerTo = (clientId: string) =>
      client.next(
        (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      );
    client.send({ type: 'voice_message', client_id: 'r1', file_id: fileId });
    const ack = await answerTo('r1');
    expect(ack.type).toBe('ack');
    await client.reply();
    expect(transcriptions()).toBe(1);
    // the vendor fails now: the resend is the stored message all the same
    openai.enqueue({ status: 500 });
    client.send({ type: 'voice_message', client_id: 'r1', file_id: fileId });
    expect(await answerTo('r1')).toMatchObject({ type: 'ack', id: ack.id, seq: ack.seq });
    // and so with a model that cannot transcribe
    client.send({ type: 'model_select', model_id: 'demo' });
    await client.nextOfType('model_select');
    client.send({ type: 'voice_message', client_id: 'r1', file_id: fileId });
    expect(await answerTo('r1')).toMatchObject({ type: 'ack', id: ack.id, seq: ack.seq });
    expect(transcriptions()).toBe(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'voice_message')).toHaveLength(1);
    await client.close();
  });

  it('should not have the AI answer a voice message when a takeover starts during its transcription', async () => {
    const { client, token, sessionId } = await connect('gpt-plain');
    const fileId = await upload(token, silentWav(), 'voice.wav', 'audio/wav');
    openai.enqueue({ transcriptDelayMs: 600 });
    client.send({ type: 'voice_message', client_id: 'v-race', file_id: fileId });
    // the admin takes over while the recording is still being transcribed
    await new Promise((resolve) => setTimeout(resolve, 150));
    const admin = adminToken(uniqueUser('admin'), 'Quick Admin');
    const claimed = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(admin),
    });
    expect(claimed.status).toBe(200);
    expect((await client.nextOfType('voice_message', 5000)).client_id).toBe('v-race');
    // the admin answers now: no loading frame and no reply from the model
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(client.frames.filter((frame) => frame.type === 'ai_response' || frame.type === 'loading')).toEqual(
      [],
    );
    expect(openai.requests.filter((request) => request.path.endsWith('/chat/completions'))).toEqual([]);
    await client.close();
  });

  it('should store AI image links from a reply in our storage, and keep untrusted hosts as links', async () => {
    const { client } = await connect('gpt');
    const untrusted = `http://127.0.0.1:${new URL(openai.url).port}/chart.png`;
    openai.enqueue({ reply: `Here ![chart](http://${filesHost}/chart.png) and ![other](${untrusted})` });
    client.send({ type: 'user_message', client_id: 'i1', content: 'draw' });
    const { final } = await client.reply();
    const attachments = final.metadata?.attachments as Array<Record<string, unknown>>;
    expect(attachments[0]).toMatchObject({
      kind: 'image',
      source: 'ai',
      mime_type: 'image/png',
      file_id: expect.any(String),
    });
    expect(attachments[1]).toEqual({ kind: 'image', source: 'ai', file_url: untrusted, external: true });
    expect(attachments[2]).toMatchObject({ kind: 'audio', source: 'tts' });
    // a link in the reply's text on the model's own (private) host is not fetched: a user could have
    // the model write any path of it (SSRF); only what the vendor sends as its file is
    expect(openai.requests.filter((request) => request.path === '/chart.png')).toEqual([]);
    await client.close();
  });

  it('should store Dify message_file files', async () => {
    const { client } = await connect('dify');
    dify.enqueue({ files: [{ url: `http://${filesHost}/files/plot.png`, type: 'image' }] });
    client.send({ type: 'user_message', client_id: 'df', content: 'plot it' });
    const { final } = await client.reply();
    expect(final.metadata?.attachments).toEqual([
      expect.objectContaining({
        kind: 'image',
        source: 'ai',
        name: 'plot.png',
        file_url: expect.stringMatching(/^\/chat\/files\//),
      }),
    ]);
    await client.close();
  });
});

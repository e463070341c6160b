import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claudeModel, startAnthropicFake, type AnthropicFake } from '../fakes/anthropic-fake';
import { startDifyFake, type DifyFake } from '../fakes/dify-fake';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import type { RecordedRequest } from '../fakes/sse';
import { startApp, type RunningApp } from '../helpers/app';
import { TestClient } from '../helpers/ws-client';
import { png } from './png.helpers';
import { connectWithModel, selectModel, upload } from './uploads.helpers';

interface OpenAiPart {
  type: string;
  text?: string;
  image_url?: { url: string };
}
interface AnthropicBlock {
  type: string;
  text?: string;
  source?: { type: string; media_type: string; data: string };
}
type Turn<Content> = { role: string; content: string | Content[] };

function decodeDataUrl(url: string): { mimeType: string; data: Buffer } {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (!match) throw new Error(`not a base64 data URL: ${url.slice(0, 40)}`);
  return { mimeType: match[1], data: Buffer.from(match[2], 'base64') };
}

// Uploaded images reach models declared with `vision` as images — OpenAI image_url data URLs,
// Anthropic base64 image blocks, Dify files uploaded to its files API — read back from storage byte
// for byte; other models get a note.
describe('uploaded images for vision models (e2e)', () => {
  let openai: OpenAiFake;
  let claude: AnthropicFake;
  let dify: DifyFake;
  let server: RunningApp;
  const uploadDir = mkdtempSync(join(tmpdir(), 'chatbox-vision-'));
  const image = png(48, 32, 1);
  const DIFY_KEY = 'app-dify-secret-key';

  beforeAll(async () => {
    openai = await startOpenAiFake({ chunkSize: 8 });
    claude = await startAnthropicFake({ chunkSize: 8 });
    dify = await startDifyFake({ chunkSize: 8 });
    const difyApp = {
      type: 'dify',
      endpoint: dify.url,
      api_key: DIFY_KEY,
      titles: false,
      retry_attempts: 2,
      retry_base_ms: 1,
    };
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      LLM_PROVIDERS: JSON.stringify([
        gptModel(openai, { id: 'gpt-vision', name: 'GPT vision', vision: true }),
        gptModel(openai),
        claudeModel(claude, { id: 'claude-vision', name: 'Claude vision', vision: true }),
        claudeModel(claude),
        { ...difyApp, id: 'dify-vision', name: 'Dify vision', vision: true },
        { ...difyApp, id: 'dify', name: 'Dify' },
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
    await claude?.close();
    await dify?.close();
    rmSync(uploadDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    openai.reset();
    claude.reset();
    dify.reset();
  });

  // the first model is the default
  const connect = (modelId: string) => connectWithModel(server, modelId, 'gpt-vision');

  // a caption asks about the file, so it is answered; an image alone is only stored
  async function sendImage(client: TestClient, token: string, data: Buffer, name: string, caption?: string) {
    const uploaded = await upload(server.httpUrl, token, data, name, 'image/png');
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ mime_type: 'image/png', size: data.length });
    client.send({ type: 'file_upload', client_id: name, file_id: uploaded.body.file_id, content: caption });
    await client.nextOfType('ack');
    return caption ? client.reply() : undefined;
  }

  const lastUser = <Content>(request: RecordedRequest | undefined): Turn<Content> => {
    const messages = (request?.body.messages ?? []) as Turn<Content>[];
    return messages.filter((message) => message.role === 'user').at(-1) as Turn<Content>;
  };

  it('should send an uploaded PNG to an OpenAI vision model as an image_url data URL of exactly its bytes', async () => {
    const { client, token } = await connect('gpt-vision');
    const answered = await sendImage(client, token, image, 'chart.png', 'What does this chart show?');
    const request = openai.requests.at(-1);
    expect(request?.path).toBe('/v1/chat/completions');
    const turn = lastUser<OpenAiPart>(request);
    expect(Array.isArray(turn.content)).toBe(true);
    const parts = turn.content as OpenAiPart[];
    expect(parts.map((part) => part.type)).toEqual(['text', 'image_url']);
    expect(parts[0].text).toBe(
      `[The user attached the image "chart.png" (image/png, ${image.length} bytes).]\nWhat does this chart show?`,
    );
    const sent = decodeDataUrl(parts[1].image_url?.url as string);
    expect(sent.mimeType).toBe('image/png');
    expect(sent.data.equals(image)).toBe(true);
    // the fake echoes the text parts: the reply flow is unchanged
    expect(answered?.final.content).toContain('What does this chart show?');

    // the image stays in the history for the next turn
    client.send({ type: 'user_message', client_id: 'q2', content: 'And the trend?' });
    await client.reply();
    const history = (openai.requests.at(-1)?.body.messages ?? []) as Turn<OpenAiPart>[];
    expect(history.map((message) => Array.isArray(message.content))).toEqual([true, false, false]);
    await client.close();
  });

  it('should send an uploaded PNG to an Anthropic vision model as a base64 image block before the text', async () => {
    const { client, token } = await connect('claude-vision');
    await sendImage(client, token, image, 'photo.png', 'Describe it');
    const request = claude.requests.at(-1);
    expect(request?.path).toBe('/v1/messages');
    const blocks = lastUser<AnthropicBlock>(request).content as AnthropicBlock[];
    expect(blocks.map((block) => block.type)).toEqual(['image', 'text']);
    expect(blocks[0].source).toMatchObject({ type: 'base64', media_type: 'image/png' });
    expect(Buffer.from(blocks[0].source?.data as string, 'base64').equals(image)).toBe(true);
    expect(blocks[1].text).toContain('"photo.png"');
    expect(blocks[1].text).toContain('Describe it');
    await client.close();
  });

  it('should give a model without vision the text note and no image bytes, and the image once it switches', async () => {
    const base64 = image.toString('base64');
    for (const [model, fake] of [
      ['gpt', openai],
      ['claude', claude],
    ] as const) {
      const { client, token } = await connect(model);
      await sendImage(client, token, image, 'secret.png', 'see?');
      const request = fake.requests.at(-1) as RecordedRequest;
      expect(lastUser(request).content).toBe(
        `[The user attached the image "secret.png" (image/png, ${image.length} bytes); you cannot see images here.]\nsee?`,
      );
      const raw = request.rawBody.toString('utf8');
      expect(raw).not.toContain(base64);
      expect(raw).not.toContain('image_url');
      expect(raw).not.toContain('"type":"image"');

      // the same session, now with a vision model: the earlier upload goes as an image
      await selectModel(client, `${model}-vision`);
      client.send({ type: 'user_message', client_id: 'now', content: 'and now?' });
      await client.reply();
      expect(fake.requests.at(-1)?.rawBody.toString('utf8')).toContain(base64);
      await client.close();
    }
  });

  it('should send only the four newest images of the session and name the older ones', async () => {
    const { client, token } = await connect('gpt-vision');
    const images = Array.from({ length: 5 }, (_, index) => png(8, 8, 10 + index));
    for (const [index, data] of images.entries()) await sendImage(client, token, data, `p${index}.png`);
    client.send({ type: 'user_message', client_id: 'which', content: 'Which one is brightest?' });
    await client.reply();
    expect(openai.requests).toHaveLength(1);
    const messages = (openai.requests[0].body.messages ?? []) as Turn<OpenAiPart>[];
    const users = messages.filter((message) => message.role === 'user');
    expect(users).toHaveLength(6);
    expect(users[0].content).toContain('only the 4 newest images are shown to you');
    const sent = users
      .slice(1, 5)
      .map((message) => (message.content as OpenAiPart[]).find((part) => part.type === 'image_url'));
    sent.forEach((part, index) =>
      expect(decodeDataUrl(part?.image_url?.url as string).data.equals(images[index + 1])).toBe(true),
    );
    await client.close();
  });

  it('should upload an uploaded PNG to a Dify vision model through /files/upload byte for byte and name it in files', async () => {
    const { client, token } = await connect('dify-vision');
    const answered = await sendImage(client, token, image, 'chart.png', 'What does this chart show?');
    const [upload] = dify.uploads;
    expect(dify.uploads).toHaveLength(1);
    expect(upload.file?.bytes.equals(image)).toBe(true);
    expect(upload.file).toMatchObject({ name: 'image-1.png', type: 'image/png', size: image.length });
    expect(upload.authorization).toBe(`Bearer ${DIFY_KEY}`);
    const [chat] = dify.chatCalls;
    // Dify's files belong to the end user who uploaded them: the same user as the message
    expect(upload.user).toBe(chat.user);
    expect(chat.files).toEqual([{ type: 'image', transfer_method: 'local_file', upload_file_id: upload.id }]);
    expect(chat.query).toContain('What does this chart show?');
    expect(answered?.final.content).toContain('What does this chart show?');

    // Dify keeps the image in its conversation: the next turn uploads nothing
    client.send({ type: 'user_message', client_id: 'q2', content: 'And the trend?' });
    await client.reply();
    expect(dify.uploads).toHaveLength(1);
    expect(dify.chatCalls[1].query).toBe('And the trend?');
    expect(dify.chatCalls[1].conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(dify.chatCalls[1].files).toBeUndefined();
    await client.close();
  });

  it('should upload nothing to a Dify model without vision and give it the text note', async () => {
    const { client, token } = await connect('dify');
    await sendImage(client, token, image, 'secret.png', 'see?');
    expect(dify.uploads).toHaveLength(0);
    expect(dify.requests.map((request) => request.path)).toEqual(['/v1/chat-messages']);
    expect(dify.chatCalls[0].files).toBeUndefined();
    expect(dify.chatCalls[0].query).toContain('you cannot see images here');
    await client.close();
  });

  it('should retry a failed Dify image upload like any failure before the first token, and refuse without the key', async () => {
    const { client, token } = await connect('dify-vision');
    dify.enqueue({ status: 503 });
    await sendImage(client, token, image, 'again.png', 'retry?');
    expect(dify.uploads.map((upload) => upload.id === undefined)).toEqual([true, false]);
    expect(dify.chatCalls).toHaveLength(1);
    expect(dify.chatCalls[0].files).toEqual([
      { type: 'image', transfer_method: 'local_file', upload_file_id: dify.uploads[1].id },
    ]);

    // a refused upload (415) is not retried and no reply is asked for
    dify.reset();
    dify.enqueue({ status: 415 });
    const uploaded = await upload(server.httpUrl, token, image, 'refused.png', 'image/png');
    client.send({
      type: 'file_upload',
      client_id: 'refused',
      file_id: uploaded.body.file_id,
      content: 'and this?',
    });
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ client_id: 'refused' });
    expect(JSON.stringify(error)).not.toContain(DIFY_KEY);
    expect(dify.uploads).toHaveLength(1);
    expect(dify.chatCalls).toHaveLength(0);
    await client.close();
  });

  it('should abort a Dify image upload in flight on stop_generation', async () => {
    const { client, token } = await connect('dify-vision');
    dify.enqueue({ hang: true });
    const uploaded = await upload(server.httpUrl, token, image, 'slow.png', 'image/png');
    client.send({ type: 'file_upload', client_id: 'slow', file_id: uploaded.body.file_id, content: 'slow?' });
    await client.nextOfType('ack');
    await dify.waitForRequests(1);
    client.send({ type: 'stop_generation' });
    await dify.waitForAbort(1);
    // stopped before any token: the loading indicator ends and no reply is stored
    await client.next((frame) => frame.type === 'loading' && frame.metadata?.loading === false);
    expect(dify.chatCalls).toHaveLength(0);
    await client.close();
  });
});

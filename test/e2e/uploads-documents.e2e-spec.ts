import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claudeModel, startAnthropicFake, type AnthropicFake } from '../fakes/anthropic-fake';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import type { RecordedRequest } from '../fakes/sse';
import { startApp, type RunningApp } from '../helpers/app';
import { pdf } from '../helpers/pdf';
import { TestClient } from '../helpers/ws-client';
import { connectWithModel, selectModel, upload } from './uploads.helpers';

interface Part {
  type: string;
  text?: string;
  file?: { filename: string; file_data: string };
  source?: { type: string; media_type: string; data: string };
}
type Turn = { role: string; content: string | Part[] };

// Uploaded PDFs reach models declared with `documents`: OpenAI file parts, Anthropic document
// blocks, read back from storage byte for byte; other models, and PDFs past the limits, get a note
// (docs/protocol.md, "Uploads and files").
describe('uploaded PDFs for models that read documents (e2e)', () => {
  let openai: OpenAiFake;
  let claude: AnthropicFake;
  let server: RunningApp;
  const uploadDir = mkdtempSync(join(tmpdir(), 'chatbox-documents-'));
  const invoice = pdf({ pages: 2, text: 'INVOICE-7731 total 12 EUR' });

  beforeAll(async () => {
    openai = await startOpenAiFake({ chunkSize: 8 });
    claude = await startAnthropicFake({ chunkSize: 8 });
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      LLM_PROVIDERS: JSON.stringify([
        gptModel(openai, { id: 'gpt-documents', name: 'GPT documents', documents: true }),
        gptModel(openai, { id: 'gpt-vision', name: 'GPT vision', vision: true }),
        claudeModel(claude, {
          id: 'claude-documents',
          name: 'Claude documents',
          documents: true,
          vision: true,
        }),
        claudeModel(claude),
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
    await claude?.close();
    rmSync(uploadDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    openai.reset();
    claude.reset();
  });

  // the first model is the default
  const connect = (modelId: string) => connectWithModel(server, modelId, 'gpt-documents');

  async function sendPdf(client: TestClient, token: string, data: Buffer, name: string, caption: string) {
    const uploaded = await upload(server.httpUrl, token, data, name, 'application/pdf');
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ mime_type: 'application/pdf', size: data.length });
    client.send({ type: 'file_upload', client_id: name, file_id: uploaded.body.file_id, content: caption });
    await client.nextOfType('ack');
    return client.reply();
  }

  const lastUser = (request: RecordedRequest | undefined): Turn => {
    const messages = (request?.body.messages ?? []) as Turn[];
    return messages.filter((message) => message.role === 'user').at(-1) as Turn;
  };
  const textOf = ({ content }: Turn): string =>
    typeof content === 'string' ? content : content.map((part) => part.text ?? '').join('');

  it('should send an uploaded PDF to an OpenAI model with documents as a file part of exactly its bytes', async () => {
    const { client, token } = await connect('gpt-documents');
    const answered = await sendPdf(client, token, invoice, 'invoice.pdf', 'What is the total?');
    const request = openai.requests.at(-1);
    expect(request?.path).toBe('/v1/chat/completions');
    const parts = lastUser(request).content as Part[];
    expect(parts.map((part) => part.type)).toEqual(['text', 'file']);
    expect(parts[0].text).toBe(
      `[The user attached the document "invoice.pdf" (application/pdf, ${invoice.length} bytes).]\nWhat is the total?`,
    );
    expect(parts[1].file?.filename).toBe('invoice.pdf');
    const match = /^data:application\/pdf;base64,(.*)$/s.exec(parts[1].file?.file_data as string);
    expect(Buffer.from(match?.[1] as string, 'base64').equals(invoice)).toBe(true);
    expect(answered.final.content).toContain('What is the total?');

    // the PDF stays in the history for the next turn
    client.send({ type: 'user_message', client_id: 'q2', content: 'And the date?' });
    await client.reply();
    const history = (openai.requests.at(-1)?.body.messages ?? []) as Turn[];
    expect(history.map((message) => Array.isArray(message.content))).toEqual([true, false, false]);
    await client.close();
  });

  it('should send an uploaded PDF to an Anthropic model with documents as a base64 document block before the text', async () => {
    const { client, token } = await connect('claude-documents');
    await sendPdf(client, token, invoice, 'invoice.pdf', 'Summarise it');
    const request = claude.requests.at(-1);
    expect(request?.path).toBe('/v1/messages');
    const blocks = lastUser(request).content as Part[];
    expect(blocks.map((block) => block.type)).toEqual(['document', 'text']);
    expect(blocks[0].source).toMatchObject({ type: 'base64', media_type: 'application/pdf' });
    expect(Buffer.from(blocks[0].source?.data as string, 'base64').equals(invoice)).toBe(true);
    expect(blocks[1].text).toContain('"invoice.pdf"');
    expect(blocks[1].text).toContain('Summarise it');
    await client.close();
  });

  it('should give a model without documents the note and no PDF bytes, vision or not, and the PDF once it switches', async () => {
    const base64 = invoice.toString('base64');
    for (const [model, fake, reads] of [
      ['gpt-vision', openai, 'gpt-documents'],
      ['claude', claude, 'claude-documents'],
    ] as const) {
      const { client, token } = await connect(model);
      await sendPdf(client, token, invoice, 'secret.pdf', 'read?');
      const request = fake.requests.at(-1) as RecordedRequest;
      expect(lastUser(request).content).toBe(
        `[The user attached the file "secret.pdf" (application/pdf, ${invoice.length} bytes).]\nread?`,
      );
      expect(request.rawBody.toString('utf8')).not.toContain(base64);

      // the same session, now with a model that reads documents: the earlier upload goes as a PDF
      await selectModel(client, reads);
      client.send({ type: 'user_message', client_id: 'now', content: 'and now?' });
      await client.reply();
      expect(fake.requests.at(-1)?.rawBody.toString('utf8')).toContain(base64);
      await client.close();
    }
  });

  it('should answer a PDF too large or too long for the vendor with a note, not a failed turn', async () => {
    const { client, token } = await connect('claude-documents');
    const large = pdf({ pages: 1, padding: 3 * 1024 * 1024 });
    const answered = await sendPdf(client, token, large, 'scan.pdf', 'Read the scan');
    let text = textOf(lastUser(claude.requests.at(-1)));
    expect(text).toContain('"scan.pdf"');
    expect(text).toContain('it is too large to show you (over 3 MiB)');
    expect(claude.requests.at(-1)?.rawBody.toString('utf8')).not.toContain('"document"');
    expect(answered.final.content).toContain('Read the scan');

    const long = pdf({ pages: 51, compressed: true });
    await sendPdf(client, token, long, 'book.pdf', 'Read the book');
    text = textOf(lastUser(claude.requests.at(-1)));
    expect(text).toContain('it is too long to show you (over 50 pages)');
    expect(claude.requests.at(-1)?.rawBody.toString('utf8')).not.toContain(long.toString('base64'));
    await client.close();
  });
});

import type { LlmModelSettings } from '../../config/llm.settings';
import { startOpenAiFake } from '../../../test/fakes/openai-fake';
import { pdf } from '../../../test/helpers/pdf';
import type { LlmDocument } from './llm-provider';
import { OpenAiProvider, toOpenAiMessages } from './openai.provider';

const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff]);
const webp = Buffer.from('RIFF....WEBPVP8 ', 'latin1');

describe('toOpenAiMessages', () => {
  it('should send a user turn with images as a text part then image_url data URLs', () => {
    const messages = toOpenAiMessages(
      [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi' },
        {
          role: 'user',
          content: '[The user attached the image "a.png".]\nwhat is it?',
          images: [
            { mimeType: 'image/png', data: png },
            { mimeType: 'image/webp', data: webp },
          ],
        },
      ],
      'Be brief.',
    );
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi' },
      {
        role: 'user',
        content: [
          { type: 'text', text: '[The user attached the image "a.png".]\nwhat is it?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
          { type: 'image_url', image_url: { url: `data:image/webp;base64,${webp.toString('base64')}` } },
        ],
      },
    ]);
    const url = (messages[3].content as Array<{ image_url?: { url: string } }>)[1].image_url?.url as string;
    expect(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').equals(png)).toBe(true);
  });

  it('should send only role and content, never the raw image buffers, when a turn has no images', () => {
    const messages = toOpenAiMessages([
      { role: 'user', content: 'x', images: [] },
      { role: 'assistant', content: 'y', images: [{ mimeType: 'image/png', data: png }] },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'x' },
      { role: 'assistant', content: 'y' },
    ]);
    expect(JSON.stringify(messages)).not.toContain('"images"');
  });
});

describe('OpenAI PDFs', () => {
  const invoice: LlmDocument = { mimeType: 'application/pdf', name: 'invoice.pdf', data: pdf(), pages: 1 };
  const fileData = `data:application/pdf;base64,${invoice.data.toString('base64')}`;

  it('should send a user turn with a PDF as a text part then a file part with its name and a base64 data URL', () => {
    const messages = toOpenAiMessages([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok', documents: [invoice] },
      {
        role: 'user',
        content: '[The user attached the document "invoice.pdf".]\ntotal?',
        images: [{ mimeType: 'image/png', data: png }],
        documents: [invoice],
      },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'first' },
      // PDFs only ever go with user turns
      { role: 'assistant', content: 'ok' },
      {
        role: 'user',
        content: [
          { type: 'text', text: '[The user attached the document "invoice.pdf".]\ntotal?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
          { type: 'file', file: { filename: 'invoice.pdf', file_data: fileData } },
        ],
      },
    ]);
  });

  it('should send the PDF byte for byte in the request body, streamed and whole', async () => {
    const fake = await startOpenAiFake({ reply: 'a total of 12' });
    try {
      const settings: LlmModelSettings = {
        id: 'gpt',
        name: 'gpt',
        type: 'openai',
        endpoint: fake.url,
        api_key: 'k',
        model: 'gpt-test',
        documents: true,
        timeout_ms: 5000,
      };
      const provider = new OpenAiProvider(settings);
      const request = {
        messages: [{ role: 'user' as const, content: 'total?', documents: [invoice] }],
        signal: new AbortController().signal,
        userId: 'u1',
      };
      let text = '';
      for await (const chunk of provider.stream(request)) if (chunk.type === 'delta') text += chunk.text;
      expect(text).toBe('a total of 12');
      expect(await provider.complete(request)).toBe('a total of 12');
      expect(fake.requests).toHaveLength(2);
      for (const sent of fake.requests) {
        const [turn] = sent.body.messages as Array<{ content: Array<Record<string, unknown>> }>;
        expect(turn.content).toEqual([
          { type: 'text', text: 'total?' },
          { type: 'file', file: { filename: 'invoice.pdf', file_data: fileData } },
        ]);
        const sentData = (turn.content[1].file as { file_data: string }).file_data;
        expect(Buffer.from(sentData.slice(sentData.indexOf(',') + 1), 'base64').equals(invoice.data)).toBe(
          true,
        );
      }
    } finally {
      await fake.close();
    }
  });
});

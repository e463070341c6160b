import fc from 'fast-check';
import type { LlmModelSettings } from '../../config/llm.settings';
import { startAnthropicFake } from '../../../test/fakes/anthropic-fake';
import { pdf } from '../../../test/helpers/pdf';
import { AnthropicProvider, toAnthropicTurns } from './anthropic.provider';
import type { LlmDocument, LlmImageType } from './llm-provider';

describe('toAnthropicTurns', () => {
  it('should move system messages to `system`, merge same-role turns and drop a leading reply', () => {
    expect(
      toAnthropicTurns(
        [
          { role: 'assistant', content: 'earlier reply' },
          { role: 'system', content: 'extra rule' },
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
          { role: 'assistant', content: 'c' },
        ],
        'Be kind.',
      ),
    ).toEqual({
      system: 'Be kind.\n\nextra rule',
      messages: [
        { role: 'user', content: 'a\n\nb' },
        { role: 'assistant', content: 'c' },
      ],
    });
  });

  it("should put a turn's images as base64 image blocks before its text, merged turns in order", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 9]);
    const { messages } = toAnthropicTurns([
      { role: 'user', content: 'first' },
      { role: 'user', content: 'look', images: [{ mimeType: 'image/png', data: png }] },
      { role: 'assistant', content: 'a cat', images: [{ mimeType: 'image/png', data: png }] },
      { role: 'user', content: ' ', images: [{ mimeType: 'image/jpeg', data: jpeg }] },
      { role: 'user', content: 'and this?' },
    ]);
    expect(messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') },
          },
          { type: 'text', text: 'look' },
        ],
      },
      // images only ever go with user turns
      { role: 'assistant', content: 'a cat' },
      {
        role: 'user',
        content: [
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/jpeg', data: jpeg.toString('base64') },
          },
          { type: 'text', text: 'and this?' },
        ],
      },
    ]);
  });

  it('should give alternating turns that start with the user when given any history', () => {
    const image = fc.record({
      mimeType: fc.constantFrom<LlmImageType>('image/png', 'image/jpeg', 'image/gif', 'image/webp'),
      data: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
    });
    const document = fc.record({
      mimeType: fc.constant('application/pdf' as const),
      name: fc.string({ minLength: 1, maxLength: 8 }),
      data: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
      pages: fc.integer({ min: 1, max: 50 }),
    });
    const message = fc.record(
      {
        role: fc.constantFrom<'user' | 'assistant' | 'system'>('user', 'assistant', 'system'),
        content: fc.string({ maxLength: 20 }),
        images: fc.array(image, { maxLength: 2 }),
        documents: fc.array(document, { maxLength: 2 }),
      },
      { requiredKeys: ['role', 'content'] },
    );
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 30 }),
        fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        (history, system) => {
          const { messages } = toAnthropicTurns(history, system);
          if (messages.length > 0) expect(messages[0].role).toBe('user');
          for (let index = 1; index < messages.length; index++)
            expect(messages[index].role).not.toBe(messages[index - 1].role);
          for (const turn of messages) {
            if (typeof turn.content === 'string') expect(turn.content.trim()).not.toBe('');
            else {
              expect(turn.content.length).toBeGreaterThan(0);
              for (const block of turn.content)
                if (block.type === 'text') expect(block.text.trim()).not.toBe('');
            }
          }
          // every user image and PDF arrives once, in order, as a base64 block; nothing else is invented
          const sent = (type: 'image' | 'document') =>
            messages.flatMap((turn) =>
              typeof turn.content === 'string'
                ? []
                : turn.content.flatMap((block) =>
                    block.type === type && block.source.type === 'base64' ? [block.source.data] : [],
                  ),
            );
          const kept = history.slice(history.findIndex((entry) => entry.role === 'user'));
          const expected = (history.findIndex((entry) => entry.role === 'user') < 0 ? [] : kept).filter(
            (entry) => entry.role === 'user',
          );
          expect(sent('image')).toEqual(
            expected.flatMap((entry) => (entry.images ?? []).map((item) => item.data.toString('base64'))),
          );
          expect(sent('document')).toEqual(
            expected.flatMap((entry) => (entry.documents ?? []).map((item) => item.data.toString('base64'))),
          );
        },
      ),
    );
  });
});

describe('Anthropic PDFs', () => {
  const invoice: LlmDocument = { mimeType: 'application/pdf', name: 'invoice.pdf', data: pdf(), pages: 1 };
  const block = {
    type: 'document',
    source: { type: 'base64', media_type: 'application/pdf', data: invoice.data.toString('base64') },
  };

  it("should put a turn's PDFs as base64 document blocks before its text, merged turns in order", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1]);
    const { messages } = toAnthropicTurns([
      { role: 'user', content: 'first' },
      { role: 'user', content: 'total?', documents: [invoice] },
      { role: 'assistant', content: 'twelve', documents: [invoice] },
      {
        role: 'user',
        content: '',
        images: [{ mimeType: 'image/png', data: png }],
        documents: [invoice],
      },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'first' }, block, { type: 'text', text: 'total?' }] },
      // PDFs only ever go with user turns
      { role: 'assistant', content: 'twelve' },
      // a turn with only attachments is no empty turn, and has no empty text block
      {
        role: 'user',
        content: [
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') },
          },
          block,
        ],
      },
    ]);
  });

  it('should send the PDF byte for byte in the request body, streamed and whole', async () => {
    const fake = await startAnthropicFake({ reply: 'a total of 12' });
    try {
      const settings: LlmModelSettings = {
        id: 'claude',
        name: 'claude',
        type: 'anthropic',
        endpoint: fake.baseURL,
        api_key: 'k',
        model: 'claude-test',
        documents: true,
        timeout_ms: 5000,
      };
      const provider = new AnthropicProvider(settings);
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
        const [turn] = sent.body.messages as Array<{ content: Array<{ source?: { data: string } }> }>;
        expect(turn.content).toEqual([block, { type: 'text', text: 'total?' }]);
        expect(Buffer.from(turn.content[0].source?.data as string, 'base64').equals(invoice.data)).toBe(true);
      }
    } finally {
      await fake.close();
    }
  });
});

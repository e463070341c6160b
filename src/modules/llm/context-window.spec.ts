import fc from 'fast-check';
import type { LlmMessage } from '../../infra/llm/llm-provider';
import {
  countMessageTokens,
  countTokens,
  DOCUMENT_PAGE_TOKENS,
  estimateUsage,
  IMAGE_TOKENS,
} from '../../infra/llm/tokens';
import { ContextWindow, type ContextMessage } from './context-window';

const message = fc.record({
  role: fc.constantFrom<'user' | 'assistant'>('user', 'assistant'),
  content: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }),
});

describe(ContextWindow.name, () => {
  it('should keep the whole history when it fits', () => {
    const history: ContextMessage[] = [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi there' },
    ];
    expect(new ContextWindow().fit(history, { contextTokens: 1000, maxTokens: 100 })).toEqual(history);
  });

  it('should drop the oldest messages first and count the system prompt when the history is too long', () => {
    const history: ContextMessage[] = Array.from({ length: 10 }, (_, index) => ({
      role: index % 2 === 0 ? 'user' : 'assistant',
      content: `message ${index} ${'lorem ipsum '.repeat(10)}`,
    }));
    const window = new ContextWindow();
    const withoutSystem = window.fit(history, { contextTokens: 200, maxTokens: 50 });
    const withSystem = window.fit(history, {
      contextTokens: 200,
      maxTokens: 50,
      systemPrompt: 'x '.repeat(40),
    });
    expect(withoutSystem.length).toBeLessThan(10);
    expect(withoutSystem.at(-1)?.content).toMatch(/^message 9/);
    expect(withSystem.length).toBeLessThan(withoutSystem.length);
  });

  it('should always keep the newest message, even when it alone is over budget', () => {
    const history: ContextMessage[] = [
      { role: 'user', content: 'old' },
      { role: 'user', content: 'long '.repeat(500) },
    ];
    expect(new ContextWindow().fit(history, { contextTokens: 50, maxTokens: 10 })).toEqual([history[1]]);
  });

  it('should count a stored message once, by its key', () => {
    const window = new ContextWindow();
    const history: ContextMessage[] = [{ role: 'user', content: 'a '.repeat(300), key: 'm1' }];
    window.fit(history, { contextTokens: 100, maxTokens: 10 });
    // same key, other text: the cached count is used (stored messages never change)
    const again = window.fit([{ role: 'user', content: 'tiny', key: 'm1' }, ...history], {
      contextTokens: 100,
      maxTokens: 10,
    });
    expect(again).toHaveLength(1);
  });

  it('should return the newest suffix that fits, and no longer one, when given any history and budget', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 20 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 100 }),
        (history, contextTokens, maxTokens) => {
          const kept = new ContextWindow().fit(history, {
            contextTokens: contextTokens + maxTokens,
            maxTokens,
          });
          // a suffix of the history, never empty when there was something
          expect(kept).toEqual(history.slice(history.length - kept.length));
          if (history.length > 0) expect(kept.length).toBeGreaterThan(0);
          const used = kept.reduce((sum, entry) => sum + countMessageTokens(entry), 0);
          if (kept.length > 1) expect(used).toBeLessThanOrEqual(contextTokens);
          if (kept.length < history.length) {
            const next = history[history.length - kept.length - 1];
            expect(used + countMessageTokens(next)).toBeGreaterThan(contextTokens);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('should count each image at IMAGE_TOKENS on top of its text, whatever its size', () => {
    const plain: LlmMessage = { role: 'user', content: 'look at this' };
    const withImages: LlmMessage = {
      ...plain,
      images: [
        { mimeType: 'image/png', data: Buffer.alloc(10) },
        { mimeType: 'image/jpeg', data: Buffer.alloc(3_000_000) },
      ],
    };
    expect(countMessageTokens(withImages)).toBe(countMessageTokens(plain) + 2 * IMAGE_TOKENS);
    expect(estimateUsage([withImages], 'ok').prompt_tokens).toBe(
      countMessageTokens(plain) + 2 * IMAGE_TOKENS,
    );
  });

  it("should keep a turn's images and drop older turns to make room for them when the budget is short", () => {
    const image = { mimeType: 'image/png' as const, data: Buffer.from([1, 2, 3]) };
    const history: ContextMessage[] = [
      { role: 'user', content: 'an older question', key: 'm1' },
      { role: 'assistant', content: 'an older answer', key: 'm2' },
      { role: 'user', content: '[The user attached the image "a.png".]', images: [image], key: 'm3:image' },
    ];
    // room for the image turn and not quite the answer before it; the texts alone would all fit
    const room = countMessageTokens(history[2]) + countMessageTokens(history[1]) - 1;
    expect(
      history.reduce((sum, entry) => sum + countMessageTokens({ ...entry, images: [] }), 0),
    ).toBeLessThan(room);
    const budget = { contextTokens: room + 100, maxTokens: 100 };
    const kept = new ContextWindow().fit(history, budget);
    expect(kept).toEqual([{ role: 'user', content: history[2].content, images: [image] }]);
    // with room for it all, everything goes, images included
    expect(new ContextWindow().fit(history, { contextTokens: 4000, maxTokens: 100 })).toEqual([
      { role: 'user', content: 'an older question' },
      { role: 'assistant', content: 'an older answer' },
      { role: 'user', content: history[2].content, images: [image] },
    ]);
  });

  it('should count each PDF page at DOCUMENT_PAGE_TOKENS on top of its text, and keep the PDFs of a turn it keeps', () => {
    const plain: LlmMessage = { role: 'user', content: 'read these' };
    const document = (pages: number) => ({
      mimeType: 'application/pdf' as const,
      name: 'a.pdf',
      data: Buffer.alloc(10),
      pages,
    });
    const withDocuments: LlmMessage = { ...plain, documents: [document(3), document(2)] };
    expect(countMessageTokens(withDocuments)).toBe(countMessageTokens(plain) + 5 * DOCUMENT_PAGE_TOKENS);
    const history: ContextMessage[] = [
      { role: 'user', content: 'an older question', key: 'm1' },
      { ...withDocuments, key: 'm2:document' },
    ];
    // the pages count on the fast path too: room for the PDFs, not for the turn before them
    const budget = { contextTokens: countMessageTokens(withDocuments) + 100 + 3, maxTokens: 100 };
    expect(new ContextWindow().fit(history, budget)).toEqual([
      { role: 'user', content: 'read these', documents: withDocuments.documents },
    ]);
  });

  it('should count special-token look-alikes as plain text', () => {
    expect(countTokens('<|endoftext|> and <|fim_prefix|>')).toBeGreaterThan(3);
  });
});

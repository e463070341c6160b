import { wholeTextProblem } from '../../common/display-text';
import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { type LlmProvider, LlmProviderError, type LlmRequest } from '../../infra/llm/llm-provider';
import type { LlmRegistry } from './llm.registry';
import {
  cleanTitle,
  SessionTitler,
  TITLE_INSTRUCTIONS,
  TITLE_MAX_CHARS,
  TITLES_AT_ONCE,
  TITLES_WAITING,
} from './session-titler';

describe('cleanTitle', () => {
  it('should strip labels, quotes, markdown and the final period', () => {
    expect(cleanTitle('"Trip to Zürich."')).toBe('Trip to Zürich');
    expect(cleanTitle('Title: **Baking Sourdough Bread**')).toBe('Baking Sourdough Bread');
    expect(cleanTitle('\n\n  « Recette de crêpes »  \nmore text')).toBe('Recette de crêpes');
    expect(cleanTitle('## 東京旅行の計画。')).toBe('東京旅行の計画');
    // the same emphasis rule as a session's name from its first message, strike-through included
    expect(cleanTitle('~~Draft~~ budget for __Q3__')).toBe('Draft budget for Q3');
  });

  it('should return undefined when nothing usable is left', () => {
    expect(cleanTitle('')).toBeUndefined();
    expect(cleanTitle('  \n "" \n')).toBeUndefined();
    expect(cleanTitle('...')).toBeUndefined();
  });

  it('should cut a long title at a word', () => {
    const title = cleanTitle('word '.repeat(40)) as string;
    expect(title.length).toBeLessThanOrEqual(TITLE_MAX_CHARS);
    expect(title.endsWith('word')).toBe(true);
  });

  it("should read only the first line's beginning, however long the vendor's answer", () => {
    // what lies past the first TITLE_MAX_CHARS * 4 characters of the line changes nothing (here a
    // closing mark, which read whole would pair with the opening one)
    const line = `**${'word '.repeat(100)}`;
    expect(cleanTitle(`${line}**`)).toBe(cleanTitle(line));
    // unclosed emphasis marks: read whole, the emphasis pattern is quadratic (0.9 s at 48 KB)
    const flood = '*a '.repeat(10_000);
    expect(cleanTitle(flood)).toBe(cleanTitle(flood.slice(0, TITLE_MAX_CHARS * 4)));
    expect(cleanTitle(`${' '.repeat(100_000)}\n  Trip plans  \n${flood}`)).toBe('Trip plans');
  });

  it('should give one clean line of at most the limit, or nothing, when given any model output', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), (raw) => {
        const title = cleanTitle(raw);
        if (title === undefined) return;
        expect(title.length).toBeGreaterThan(0);
        expect(Array.from(title).length).toBeLessThanOrEqual(TITLE_MAX_CHARS);
        expect(title).not.toMatch(/[\r\n\t]/);
        expect(title).toBe(title.trim());
        expect(title).not.toMatch(/\p{Cc}/u);
      }),
    );
  });
});

describe('SessionTitler', () => {
  const input = { modelId: 'm', userId: 'u', userText: 'Plans for Zürich', replyText: 'Here they are' };

  // a registry of one model whose provider is `provider`
  function titler(provider: Partial<LlmProvider>, timeoutMs = 1000): SessionTitler {
    const entry = {
      provider: { modelId: 'm', vendor: 'openai', stream: () => (async function* () {})(), ...provider },
      breaker: { state: 'closed' },
      settings: { id: 'm', type: 'openai', timeout_ms: timeoutMs },
    };
    return new SessionTitler({ has: () => true, entry: () => entry } as unknown as LlmRegistry);
  }

  it('should ask a provider that answers whole for the title in one request, with the title limits', async () => {
    const requests: LlmRequest[] = [];
    const stream = jest.fn();
    const title = await titler({
      complete: (request) => {
        requests.push(request);
        return Promise.resolve('"Trip to Zürich."');
      },
      stream,
    }).title(input);
    expect(title).toBe('Trip to Zürich');
    expect(stream).not.toHaveBeenCalled();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      maxTokens: 24,
      system: TITLE_INSTRUCTIONS,
      userId: 'u',
      detached: true,
    });
    expect(requests[0].messages[0].content).toContain('User: Plans for Zürich');
  });

  // the text-limits audit of session 41: the excerpt's cut split a pair, and the vendor was sent
  // half a character
  it('should cut the first exchange for the prompt at whole characters', async () => {
    const requests: LlmRequest[] = [];
    await titler({
      complete: (request) => {
        requests.push(request);
        return Promise.resolve('Emoji');
      },
    }).title({ ...input, userText: `a${'😀'.repeat(600)}`, replyText: `b${'🎉'.repeat(600)}` });
    const prompt = requests[0].messages[0].content;
    expect(prompt).toContain('😀…');
    expect(prompt).toContain('🎉…');
    expect(wholeTextProblem(prompt)).toBeUndefined();
  });

  it('should read the title from the stream of a provider that only streams', async () => {
    const title = await titler({
      async *stream() {
        yield { type: 'delta' as const, text: 'Trip to ' };
        yield { type: 'delta' as const, text: 'Zürich' };
      },
    }).title(input);
    expect(title).toBe('Trip to Zürich');
  });

  // a request that never answers, until its signal aborts
  const hanging = (request: LlmRequest) =>
    new Promise<string>((_resolve, reject) =>
      request.signal.addEventListener('abort', () => reject(request.signal.reason as Error)),
    );

  // an SDK's SyntaxError for a body that is not JSON quotes the body, and its message was logged
  it("should log an unexpected error's name only, and a provider error's own message", async () => {
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const unreadable = new SyntaxError(
        'Unexpected token \'<\', "<html>private words"... is not valid JSON',
      );
      expect(await titler({ complete: () => Promise.reject(unreadable) }).title(input)).toBeUndefined();
      const refused = new LlmProviderError('openai: HTTP 503', true);
      expect(await titler({ complete: () => Promise.reject(refused) }).title(input)).toBeUndefined();
      expect(warned.mock.calls.map(([fields]) => (fields as { err: unknown }).err)).toEqual([
        'SyntaxError',
        'openai: HTTP 503',
      ]);
      expect(JSON.stringify(warned.mock.calls)).not.toContain('private');
    } finally {
      warned.mockRestore();
    }
  });

  it('should give up (no title) when the model does not answer in time', async () => {
    expect(await titler({ complete: hanging }, 20).title(input)).toBeUndefined();
  });

  it('should give up (no title) when the server stops, and leave no listener on its signal', async () => {
    const closing = new AbortController();
    const listeners = jest.spyOn(closing.signal, 'removeEventListener');
    const asked = titler({ complete: hanging }).title({ ...input, signal: closing.signal });
    closing.abort();
    expect(await asked).toBeUndefined();
    expect(listeners).toHaveBeenCalledWith('abort', expect.any(Function));
    // already stopped: not even asked
    const complete = jest.fn(hanging);
    expect(await titler({ complete }).title({ ...input, signal: closing.signal })).toBeUndefined();
    expect(complete).not.toHaveBeenCalled();
  });
  it('should ask at most TITLES_AT_ONCE titles at once, the rest in order as earlier ones end, and none past the line', async () => {
    const answers: Array<(title: string) => void> = [];
    const asked: string[] = [];
    const subject = titler({
      complete: (request) =>
        new Promise<string>((resolve) => {
          asked.push(request.userId ?? '');
          answers.push(resolve);
        }),
    });
    const total = TITLES_AT_ONCE + TITLES_WAITING;
    const titles = Array.from({ length: total + 1 }, (_, index) =>
      subject.title({ ...input, userId: `u${index}` }),
    );
    await new Promise((resolve) => setImmediate(resolve));

    expect(asked).toEqual(Array.from({ length: TITLES_AT_ONCE }, (_, index) => `u${index}`));
    // the one past the line keeps its heuristic name, at once
    await expect(titles[total]).resolves.toBeUndefined();
    answers[0]('First');
    await expect(titles[0]).resolves.toBe('First');
    await new Promise((resolve) => setImmediate(resolve));
    expect(asked).toHaveLength(TITLES_AT_ONCE + 1);
    expect(asked.at(-1)).toBe(`u${TITLES_AT_ONCE}`);
    // the rest are answered as they come
    for (let index = 1; index < total; index++) {
      while (answers.length <= index) await new Promise((resolve) => setImmediate(resolve));
      answers[index](`T${index}`);
    }
    await expect(Promise.all(titles.slice(0, total))).resolves.toHaveLength(total);
    expect(asked).toHaveLength(total);
  });
});

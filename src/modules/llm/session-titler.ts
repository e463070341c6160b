import { sliceWhole } from '../../common/display-text';
import { Injectable, Logger } from '@nestjs/common';
import { ConcurrencyLimit } from '../../common/concurrency-limit';
import { isAbort, LlmProviderError } from '../../infra/llm/llm-provider';
import { LlmRegistry } from './llm.registry';
import { withoutEmphasis } from '../../common/markdown-text';

const TITLE_TIMEOUT_MS = 10_000;
const TITLE_MAX_TOKENS = 24;
const EXCERPT_CHARS = 1000;
export const TITLE_MAX_CHARS = 60;
const TITLE_INPUT_CHARS = TITLE_MAX_CHARS * 4;
// titles asked for at once by this instance, and how many more may wait (docs/protocol.md, "Session
// titles"): a title is background work, and many new sessions ending their first exchange together
// (a burst) would otherwise build as many vendor requests in the same moment as the replies still
// streaming
export const TITLES_AT_ONCE = 4;
export const TITLES_WAITING = 1000;

export const TITLE_INSTRUCTIONS =
  'You name chat conversations. Answer with a title of two to six words that says what the ' +
  'conversation is about, in the same language as the user. Answer with the title only: no quotes, ' +
  'no final punctuation.';

interface TitleInput {
  modelId: string;
  userId: string;
  userText: string;
  replyText: string;
  // aborted when the server shuts down
  signal?: AbortSignal;
}

// Asks the session's model for a short title after the first exchange. Best effort: one attempt,
// a short timeout, and no title (the caller keeps its heuristic name) on any failure.
@Injectable()
export class SessionTitler {
  private readonly logger = new Logger('llm');

  private readonly line = new ConcurrencyLimit(TITLES_AT_ONCE, TITLES_WAITING);

  constructor(private readonly registry: LlmRegistry) {}

  enabled(modelId: string): boolean {
    if (!this.registry.has(modelId)) return false;
    const { settings } = this.registry.entry(modelId);
    // Dify apps keep their own conversation names, and the demo model cannot summarise
    return settings.titles ?? (settings.type === 'openai' || settings.type === 'anthropic');
  }

  async title(input: TitleInput): Promise<string | undefined> {
    if (!this.enabled(input.modelId)) return undefined;
    // a full line (a burst far past what the vendor answers): the session keeps its heuristic name
    const done = await this.line.run(() => this.ask(input));
    return done?.value;
  }

  private async ask(input: TitleInput): Promise<string | undefined> {
    const { provider, breaker, settings } = this.registry.entry(input.modelId);
    // a provider that is failing gets no extra requests, nor does one while the server stops
    if (breaker.state !== 'closed' || input.signal?.aborted) return undefined;
    // one controller for the timeout and the server's shutdown (AbortSignal.any would tie a new
    // signal to the long-lived shutdown signal on every title)
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException('title timed out', 'TimeoutError')),
      Math.min(settings.timeout_ms ?? TITLE_TIMEOUT_MS, TITLE_TIMEOUT_MS),
    );
    const stop = (): void => controller.abort(input.signal?.reason);
    input.signal?.addEventListener('abort', stop, { once: true });
    const prompt =
      `User: ${excerpt(input.userText)}\n\nAssistant: ${excerpt(input.replyText)}\n\n` +
      'Title of this conversation:';
    const request = {
      messages: [{ role: 'user' as const, content: prompt }],
      system: TITLE_INSTRUCTIONS,
      maxTokens: TITLE_MAX_TOKENS,
      signal: controller.signal,
      userId: input.userId,
      detached: true,
    };
    let text = '';
    try {
      // one whole answer where the vendor gives one (nobody watches a title arrive), else streamed
      if (provider.complete) text = await provider.complete(request);
      else
        for await (const chunk of provider.stream(request)) {
          if (chunk.type === 'delta') text += chunk.text;
          if (text.length > TITLE_INPUT_CHARS) break;
        }
    } catch (error) {
      this.logger.warn(
        {
          event: 'title_failed',
          model: input.modelId,
          err: failureOf(error),
        },
        'session title failed',
      );
      return undefined;
    } finally {
      clearTimeout(timer);
      input.signal?.removeEventListener('abort', stop);
    }
    return cleanTitle(text);
  }
}

// A provider error's message is ours and fixed ("openai: HTTP 503"); any other error's may quote
// what the vendor sent (a SyntaxError quotes a body that is not JSON): its name only
function failureOf(error: unknown): string {
  if (isAbort(error)) return 'timeout';
  if (error instanceof LlmProviderError) return error.message;
  return error instanceof Error ? error.name : 'failure';
}

// at a whole character: until the text-limits audit of session 41 a first message of emoji sent
// the vendor half of one (a vendor that refuses malformed text would leave the session untitled)
function excerpt(text: string): string {
  return text.length > EXCERPT_CHARS ? `${sliceWhole(text, EXCERPT_CHARS)}…` : text;
}

// Model output → a one-line title: first non-empty line, no "Title:" label, quotes, markdown or
// trailing punctuation, at most TITLE_MAX_CHARS (cut at a word). Undefined when nothing is left.
// Only the first TITLE_INPUT_CHARS of that line are read, whatever the vendor sent (a model or a
// proxy that ignores max_tokens): the emphasis pattern is quadratic in its input, and a
// 48,000-character line held the event loop for 0.9 s.
export function cleanTitle(raw: string): string | undefined {
  const first = raw.search(/\S/);
  if (first === -1) return undefined;
  const end = raw.indexOf('\n', first);
  const line = raw.slice(first, Math.min(end === -1 ? raw.length : end, first + TITLE_INPUT_CHARS)).trim();
  // emphasis marks go, marks that are part of a word (__init__, snake_case) stay
  let title = withoutEmphasis(line.replace(/^(#+\s*|title\s*:\s*)/i, ''))
    .replace(/^["'“”‘’«»「」\s]+|["'“”‘’«»「」\s]+$/g, '')
    .replace(/[.。!！?？:：;；,，\s]+$/u, '')
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}|\p{Cf}/gu, '')
    .trim();
  const points = Array.from(title);
  if (points.length > TITLE_MAX_CHARS) {
    const cut = points.slice(0, TITLE_MAX_CHARS).join('');
    const space = cut.lastIndexOf(' ');
    title = (space > TITLE_MAX_CHARS / 2 ? cut.slice(0, space) : cut).trim();
  }
  return title.length > 0 ? title : undefined;
}

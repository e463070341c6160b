import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { LlmModelSettings } from '../../config/settings';
import { type LlmChunk, type LlmProvider, LlmProviderError, type LlmRequest } from './llm-provider';

const DEFAULT_TIMEOUT_MS = 60_000;

// OpenAI chat completions over the official SDK; any OpenAI-compatible endpoint works (Ollama, vLLM).
export class OpenAiProvider implements LlmProvider {
  readonly modelId: string;
  private readonly client: OpenAI;

  constructor(private readonly model: LlmModelSettings) {
    this.modelId = model.id;
    this.client = new OpenAI({
      apiKey: model.api_key ?? 'unused',
      baseURL: model.endpoint,
      timeout: model.timeout_ms ?? DEFAULT_TIMEOUT_MS,
      // retries belong to the chat flow, which knows whether a token already reached the user
      maxRetries: 0,
    });
  }

  async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
    const messages = this.model.system_prompt
      ? [{ role: 'system' as const, content: this.model.system_prompt }, ...request.messages]
      : request.messages;
    let stream;
    try {
      stream = await this.client.chat.completions.create(
        {
          model: this.model.model as string,
          messages,
          stream: true,
          stream_options: { include_usage: true },
          temperature: this.model.temperature,
          max_completion_tokens: this.model.max_tokens,
          user: request.userId,
        },
        { signal: request.signal },
      );
    } catch (error) {
      throw toProviderError(error);
    }
    try {
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content;
        if (text) yield { type: 'delta', text };
        if (chunk.usage) {
          yield {
            type: 'usage',
            usage: {
              prompt_tokens: chunk.usage.prompt_tokens,
              completion_tokens: chunk.usage.completion_tokens,
              total_tokens: chunk.usage.total_tokens,
            },
          };
        }
      }
    } catch (error) {
      throw toProviderError(error);
    }
  }
}

function toProviderError(error: unknown): unknown {
  if (error instanceof APIUserAbortError || (error instanceof Error && error.name === 'AbortError'))
    return error;
  if (error instanceof APIConnectionTimeoutError) return new LlmProviderError('openai: timeout', true);
  if (error instanceof APIConnectionError) return new LlmProviderError('openai: connection failed', true);
  if (error instanceof APIError) {
    const status = error.status ?? 0;
    const retryAfter = Number(error.headers?.get?.('retry-after'));
    return new LlmProviderError(
      `openai: HTTP ${status}`,
      status === 429 || status >= 500,
      Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
    );
  }
  return error;
}

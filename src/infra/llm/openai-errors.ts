import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { isAbort, isRetryableStatus, LlmProviderError, parseRetryAfter } from './llm-provider';

// OpenAI SDK errors → LlmProviderError (aborts pass through untouched: they are not failures).
// The message names the vendor and status only: vendor bodies may echo user text or key prefixes.
export function fromOpenAiError(error: unknown, vendor = 'openai'): unknown {
  if (isAbort(error)) return error;
  // an event or body that is not JSON (a SyntaxError's message may quote it)
  if (error instanceof SyntaxError) return new LlmProviderError(`${vendor}: unreadable answer`, true);
  if (error instanceof APIConnectionTimeoutError) return new LlmProviderError(`${vendor}: timeout`, true);
  if (error instanceof APIConnectionError) return new LlmProviderError(`${vendor}: connection failed`, true);
  if (error instanceof APIError) {
    const status = error.status ?? 0;
    // an in-stream error event has no status: the vendor failed mid-answer, worth another try
    if (!status) return new LlmProviderError(`${vendor}: error event in stream`, true);
    return new LlmProviderError(
      `${vendor}: HTTP ${status}`,
      isRetryableStatus(status),
      parseRetryAfter(error.headers?.get('retry-after'), error.headers?.get('retry-after-ms')),
    );
  }
  return error;
}

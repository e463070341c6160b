// The one interface every model vendor sits behind; the chat flow never knows which one answers.
export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface LlmRequest {
  messages: LlmMessage[];
  signal: AbortSignal;
  userId: string;
  // vendor-side conversation state kept on our session (e.g. Dify's conversation_id)
  providerState?: Record<string, unknown>;
}

export type LlmChunk =
  | { type: 'delta'; text: string }
  | { type: 'usage'; usage: LlmUsage }
  | { type: 'state'; providerState: Record<string, unknown> };

export interface LlmProvider {
  readonly modelId: string;
  stream(request: LlmRequest): AsyncIterable<LlmChunk>;
  // speech to text (OpenAI audio transcriptions, Dify audio-to-text); absent when unsupported
  transcribe?(audio: { data: Buffer; mimeType: string; fileName: string; userId: string }): Promise<string>;
  // text to speech for models configured with `tts`; absent when unsupported
  synthesize?(text: string): Promise<{ data: Buffer; mimeType: string }>;
}

export class LlmProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

// Rough token count for providers that report none: ~4 characters a token for English text.
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

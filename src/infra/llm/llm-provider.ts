// The one interface every model vendor sits behind; the chat flow never knows which one answers.
export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  // pictures the user attached to this turn, for models with `vision`; each provider encodes them
  images?: LlmImage[];
  // PDFs the user attached to this turn, for models with `documents`; each provider encodes them
  documents?: LlmDocument[];
}

// The image types every vision vendor accepts (OpenAI and Anthropic alike).
export type LlmImageType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';
export const LLM_IMAGE_TYPES: readonly LlmImageType[] = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
];

export interface LlmImage {
  mimeType: LlmImageType;
  data: Buffer;
}

// A PDF: the document type OpenAI and Anthropic both read (its text and a picture of each page).
export interface LlmDocument {
  mimeType: 'application/pdf';
  // the name it was uploaded under (OpenAI wants a file name with the bytes)
  name: string;
  data: Buffer;
  // what the vendors charge by and limit (docs/protocol.md, "Uploads and files")
  pages: number;
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
  // with that state: the index in `messages` of the first turn the vendor's own conversation has
  // not seen (after its newest answer there); unset, only the turn being answered is new to it
  since?: number;
  // replaces the configured system prompt (session titles use their own instructions)
  system?: string;
  // caps the reply below the configured max_tokens
  maxTokens?: number;
  // a one-off request outside the conversation: no vendor-side state is read or created
  detached?: boolean;
  // called on every piece of the vendor's answer that arrives, whatever it holds: a keep-alive
  // ping, which the SDKs drop before a provider sees it, is life too (resilientStream's idle
  // timeout; vendor-fetch.ts, ON_DATA)
  onData?: () => void;
}

export type LlmChunk =
  | { type: 'delta'; text: string }
  // the whole reply so far is this text instead (Dify's output moderation: message_replace)
  | { type: 'replace'; text: string }
  | { type: 'usage'; usage: LlmUsage }
  | { type: 'state'; providerState: Record<string, unknown> }
  // a file the AI produced (Dify message_file); `url` is absolute
  | { type: 'file'; url: string; kind?: string };

export interface AudioInput {
  data: Buffer;
  mimeType: string;
  fileName: string;
  userId: string;
  signal?: AbortSignal;
}

export interface LlmProvider {
  readonly modelId: string;
  // the vendor ('openai', 'anthropic', 'dify', 'demo'): a label for metrics and logs
  readonly vendor: string;
  // keeps conversation state on its side (Dify): the chat flow passes it back as providerState
  readonly stateful?: boolean;
  stream(request: LlmRequest): AsyncIterable<LlmChunk>;
  // one whole answer in one response, not streamed (a session title: nobody watches it arrive);
  // absent when the vendor only streams
  complete?(request: LlmRequest): Promise<string>;
  // speech to text (OpenAI audio transcriptions, Dify audio-to-text); absent when unsupported
  transcribe?(audio: AudioInput): Promise<string>;
  // text to speech for models configured with `tts`; absent when unsupported
  synthesize?(text: string, signal?: AbortSignal): Promise<{ data: Buffer; mimeType: string }>;
  // deletes the conversation the vendor keeps for `state` (a purged session's; docs/protocol.md,
  // "Session library"), resolving once it is gone, or was never there; an LlmProviderError that is
  // retryable when another try may succeed. Dify alone keeps one: OpenAI's chat completions,
  // Anthropic's Messages API and the demo are sent the conversation with every turn and keep none
  // that could be deleted, so they have no forget
  forget?(state: Record<string, unknown>, userId: string): Promise<void>;
}

// A vendor failure the chat flow can reason about: may it be retried, and when.
export class LlmProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LlmProviderError';
  }
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'APIUserAbortError');
}

// `retry-after` is seconds (possibly fractional) or an HTTP date; `retry-after-ms` wins when present.
export function parseRetryAfter(
  retryAfter: string | null | undefined,
  retryAfterMs?: string | null,
  now = Date.now(),
): number | undefined {
  if (retryAfterMs) {
    const ms = Number(retryAfterMs);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  if (!retryAfter) return undefined;
  const trimmed = retryAfter.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

// HTTP statuses worth another try: rate limits, overload and server errors.
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

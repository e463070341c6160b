import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import type {
  DocumentBlockParam,
  ImageBlockParam,
  TextBlockParam,
} from '@anthropic-ai/sdk/resources/messages';
import type { LlmModelSettings } from '../../config/llm.settings';
import {
  isAbort,
  isRetryableStatus,
  type LlmChunk,
  type LlmMessage,
  type LlmProvider,
  LlmProviderError,
  type LlmRequest,
  parseRetryAfter,
} from './llm-provider';
import { DEFAULT_TIMEOUT_MS } from './openai.provider';
import { OpenAiAudio } from './openai-speech';
import { SILENT_SDK } from './sdk-logging';
import { onDataInit, vendorFetch } from './vendor-fetch';

// The Messages API requires max_tokens; this is the cap when the model sets none.
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 1024;

// Anthropic Messages API streaming through the official SDK: system prompt as `system`, usage from
// message_start (input) and message_delta (output, cumulative).
export class AnthropicProvider implements LlmProvider {
  readonly modelId: string;
  readonly vendor = 'anthropic';
  readonly synthesize?: LlmProvider['synthesize'];
  private readonly client: Anthropic;

  constructor(private readonly model: LlmModelSettings) {
    this.modelId = model.id;
    const timeoutMs = model.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    this.client = new Anthropic({
      apiKey: model.api_key,
      baseURL: model.endpoint,
      timeout: timeoutMs,
      maxRetries: 0,
      fetch: vendorFetch,
      ...SILENT_SDK,
    });
    const tts = model.tts;
    if (tts) {
      const speech = new OpenAiAudio({ endpoint: tts.endpoint, apiKey: tts.api_key, timeoutMs });
      this.synthesize = (text, signal) => speech.synthesize(text, tts, signal);
    }
  }

  // the request both ways share (streamed or whole)
  private body(request: LlmRequest) {
    const { system, messages } = toAnthropicTurns(
      request.messages,
      request.system ?? this.model.system_prompt,
    );
    return {
      model: this.model.model as string,
      max_tokens: request.maxTokens ?? this.model.max_tokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS,
      ...(system ? { system } : {}),
      ...(this.model.temperature !== undefined ? { temperature: Math.min(1, this.model.temperature) } : {}),
      messages,
      metadata: { user_id: request.userId },
    };
  }

  async complete(request: LlmRequest): Promise<string> {
    try {
      const message = await this.client.messages.create(this.body(request), { signal: request.signal });
      return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    } catch (error) {
      throw fromAnthropicError(error);
    }
  }

  async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
    let input = 0;
    let output = 0;
    let sawUsage = false;
    // the vendor's end is message_stop: a stream without it was cut off, however cleanly its body
    // ended (docs/protocol.md, "Vendor streams end with the vendor's end")
    let stopped = false;
    try {
      const stream = await this.client.messages.create(
        { ...this.body(request), stream: true },
        // the SDK drops the vendor's ping events: the bytes say it is alive (LlmRequest.onData)
        { signal: request.signal, fetchOptions: onDataInit(request.onData) },
      );
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
          if (event.delta.text) yield { type: 'delta', text: event.delta.text };
        } else if (event.type === 'message_start') {
          const usage = event.message.usage;
          input =
            usage.input_tokens +
            (usage.cache_creation_input_tokens ?? 0) +
            (usage.cache_read_input_tokens ?? 0);
          output = usage.output_tokens;
          sawUsage = true;
        } else if (event.type === 'message_delta') {
          output = event.usage.output_tokens;
          if (typeof event.usage.input_tokens === 'number') input = event.usage.input_tokens;
        } else if (event.type === 'message_stop') stopped = true;
      }
    } catch (error) {
      throw fromAnthropicError(error);
    }
    // the SDK ends quietly when the request is aborted (a stop, a timeout): no vendor failure
    if (!stopped && !request.signal.aborted)
      throw new LlmProviderError('anthropic: stream ended without message_stop', true);
    if (sawUsage)
      yield {
        type: 'usage',
        usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
      };
  }
}

export type AnthropicBlock = TextBlockParam | ImageBlockParam | DocumentBlockParam;

export interface AnthropicTurn {
  role: 'user' | 'assistant';
  // a plain string, or blocks when the turn carries images or PDFs (each message's images and PDFs,
  // then its text)
  content: string | AnthropicBlock[];
}

// Anthropic wants alternating user/assistant turns starting with the user; our log can hold two user
// messages in a row (a reply that failed) or start with an assistant turn after trimming.
export function toAnthropicTurns(
  history: LlmMessage[],
  systemPrompt?: string,
): { system?: string; messages: AnthropicTurn[] } {
  const systems = systemPrompt ? [systemPrompt] : [];
  const messages: AnthropicTurn[] = [];
  for (const message of history) {
    if (message.role === 'system') {
      systems.push(message.content);
      continue;
    }
    const attached = message.role === 'user' ? attachmentsOf(message) : [];
    if (message.content.trim() === '' && attached.length === 0) continue;
    const last = messages.at(-1);
    if (last && last.role === message.role) last.content = merged(last.content, message.content, attached);
    else if (messages.length > 0 || message.role === 'user')
      messages.push({
        role: message.role,
        content: attached.length > 0 ? blocksOf(message.content, attached) : message.content,
      });
  }
  return { system: systems.length > 0 ? systems.join('\n\n') : undefined, messages };
}

function merged(
  content: AnthropicTurn['content'],
  text: string,
  attached: AnthropicBlock[],
): AnthropicTurn['content'] {
  if (typeof content === 'string' && attached.length === 0) return `${content}\n\n${text}`;
  const earlier: AnthropicBlock[] = typeof content === 'string' ? [{ type: 'text', text: content }] : content;
  return [...earlier, ...blocksOf(text, attached)];
}

// A message's images and PDFs as base64 image and document blocks.
function attachmentsOf(message: LlmMessage): AnthropicBlock[] {
  return [
    ...(message.images ?? []).map((image): ImageBlockParam => ({
      type: 'image',
      source: { type: 'base64', media_type: image.mimeType, data: image.data.toString('base64') },
    })),
    ...(message.documents ?? []).map((document): DocumentBlockParam => ({
      type: 'document',
      source: { type: 'base64', media_type: document.mimeType, data: document.data.toString('base64') },
    })),
  ];
}

// Image and document blocks before the text they belong to, as Anthropic recommends; no empty text
// block (refused).
function blocksOf(text: string, attached: AnthropicBlock[]): AnthropicBlock[] {
  return text.trim() === '' ? attached : [...attached, { type: 'text', text }];
}

function fromAnthropicError(error: unknown): unknown {
  if (isAbort(error)) return error;
  // an event that is not JSON: V8's message quotes it (model output)
  if (error instanceof SyntaxError) return new LlmProviderError('anthropic: unreadable answer', true);
  if (error instanceof APIConnectionTimeoutError) return new LlmProviderError('anthropic: timeout', true);
  if (error instanceof APIConnectionError) return new LlmProviderError('anthropic: connection failed', true);
  if (error instanceof APIError) {
    const status = error.status ?? 0;
    // an `error` event mid-stream (overloaded_error, api_error) has no HTTP status
    if (!status) return new LlmProviderError('anthropic: error event in stream', true);
    return new LlmProviderError(
      `anthropic: HTTP ${status}`,
      isRetryableStatus(status),
      parseRetryAfter(error.headers?.get('retry-after'), error.headers?.get('retry-after-ms')),
    );
  }
  return error;
}

import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { LlmModelSettings } from '../../config/llm.settings';
import {
  type AudioInput,
  type LlmChunk,
  type LlmMessage,
  type LlmProvider,
  LlmProviderError,
  type LlmRequest,
} from './llm-provider';
import { fromOpenAiError } from './openai-errors';
import { OpenAiAudio } from './openai-speech';
import { SILENT_SDK } from './sdk-logging';
import { onDataInit, vendorFetch } from './vendor-fetch';

export const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_TRANSCRIPTION_MODEL = 'whisper-1';

// OpenAI chat completions over the official SDK; any OpenAI-compatible endpoint works (Ollama, vLLM).
export class OpenAiProvider implements LlmProvider {
  readonly modelId: string;
  readonly vendor = 'openai';
  readonly synthesize?: LlmProvider['synthesize'];
  private readonly client: OpenAI;
  private readonly audio: OpenAiAudio;

  constructor(private readonly model: LlmModelSettings) {
    this.modelId = model.id;
    const timeoutMs = model.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    this.client = new OpenAI({
      apiKey: model.api_key ?? 'unused',
      baseURL: model.endpoint,
      timeout: timeoutMs,
      // retries belong to the chat flow, which knows whether a token already reached the user
      maxRetries: 0,
      fetch: vendorFetch,
      ...SILENT_SDK,
    });
    this.audio = new OpenAiAudio({ endpoint: model.endpoint, apiKey: model.api_key, timeoutMs });
    const tts = model.tts;
    if (tts) {
      const speech = new OpenAiAudio({ endpoint: tts.endpoint, apiKey: tts.api_key, timeoutMs });
      this.synthesize = (text, signal) => speech.synthesize(text, tts, signal);
    }
  }

  async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
    const system = request.system ?? this.model.system_prompt;
    const messages = toOpenAiMessages(request.messages, system);
    let stream;
    try {
      stream = await this.client.chat.completions.create(
        {
          model: this.model.model as string,
          messages,
          stream: true,
          stream_options: { include_usage: true },
          temperature: this.model.temperature,
          max_completion_tokens: request.maxTokens ?? this.model.max_tokens,
          user: request.userId,
        },
        // any bytes, an SSE comment a proxy keeps the line open with included (LlmRequest.onData)
        { signal: request.signal, fetchOptions: onDataInit(request.onData) },
      );
    } catch (error) {
      throw fromOpenAiError(error);
    }
    // the vendor's end is a choice's finish_reason: a stream without one was cut off, however
    // cleanly its body ended (docs/protocol.md, "Vendor streams end with the vendor's end")
    let finished = false;
    try {
      for await (const chunk of stream) {
        const choice = chunk.choices?.[0];
        const text = choice?.delta?.content;
        if (text) yield { type: 'delta', text };
        if (choice?.finish_reason) finished = true;
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
      throw fromOpenAiError(error);
    }
    // the SDK ends quietly when the request is aborted (a stop, a timeout): no vendor failure
    if (!finished && !request.signal.aborted)
      throw new LlmProviderError('openai: stream ended without finish_reason', true);
  }

  async complete(request: LlmRequest): Promise<string> {
    const messages = toOpenAiMessages(request.messages, request.system ?? this.model.system_prompt);
    try {
      const completion = await this.client.chat.completions.create(
        {
          model: this.model.model as string,
          messages,
          temperature: this.model.temperature,
          max_completion_tokens: request.maxTokens ?? this.model.max_tokens,
          user: request.userId,
        },
        { signal: request.signal },
      );
      return completion.choices[0]?.message?.content ?? '';
    } catch (error) {
      throw fromOpenAiError(error);
    }
  }

  transcribe(audio: AudioInput): Promise<string> {
    return this.audio.transcribe(audio, this.model.transcription_model ?? DEFAULT_TRANSCRIPTION_MODEL);
  }
}

// Chat-completions messages: a user turn with images or PDFs becomes content parts (its text, then
// each image as a base64 data URL, then each PDF as a file part: its name and a base64 data URL);
// every other turn stays a plain string.
export function toOpenAiMessages(history: LlmMessage[], system?: string): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = system ? [{ role: 'system', content: system }] : [];
  for (const message of history) {
    const images = message.images ?? [];
    const documents = message.documents ?? [];
    if (message.role === 'user' && (images.length > 0 || documents.length > 0)) {
      messages.push({
        role: 'user',
        content: [
          { type: 'text', text: message.content },
          ...images.map((image) => ({
            type: 'image_url' as const,
            image_url: { url: `data:${image.mimeType};base64,${image.data.toString('base64')}` },
          })),
          ...documents.map((document) => ({
            type: 'file' as const,
            file: {
              filename: document.name,
              file_data: `data:${document.mimeType};base64,${document.data.toString('base64')}`,
            },
          })),
        ],
      });
    } else messages.push({ role: message.role, content: message.content });
  }
  return messages;
}

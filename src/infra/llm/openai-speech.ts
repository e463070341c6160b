import OpenAI, { toFile } from 'openai';
import type { SpeechFormat, SpeechSettings } from '../../config/llm.settings';
import { LlmProviderError, type AudioInput } from './llm-provider';
import { fromOpenAiError } from './openai-errors';
import { SILENT_SDK } from './sdk-logging';

const MIME_TYPES: Record<SpeechFormat, string> = {
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  wav: 'audio/wav',
};

// OpenAI's audio API (any compatible endpoint): speech for `tts` models, transcription for voice.
export class OpenAiAudio {
  private readonly client: OpenAI;

  constructor(options: { endpoint?: string; apiKey?: string; timeoutMs: number }) {
    this.client = new OpenAI({
      apiKey: options.apiKey ?? 'unused',
      baseURL: options.endpoint,
      timeout: options.timeoutMs,
      maxRetries: 0,
      ...SILENT_SDK,
    });
  }

  async synthesize(
    text: string,
    speech: SpeechSettings,
    signal?: AbortSignal,
  ): Promise<{ data: Buffer; mimeType: string }> {
    try {
      const response = await this.client.audio.speech.create(
        { model: speech.model, voice: speech.voice, input: text, response_format: speech.format },
        { signal },
      );
      // a 200 that is not audio (a JSON error body, a proxy's page) is a failure, not the speech: the
      // reply then has none. Until the speech audit of session 42 it was kept as the speech (3 of 3)
      const type = response.headers.get('content-type')?.split(';')[0].trim().toLowerCase();
      if (type && !type.startsWith('audio/') && type !== 'application/octet-stream') {
        await response.body?.cancel().catch(() => undefined);
        throw new LlmProviderError(`openai speech: answer is ${type}, not audio`, true);
      }
      return { data: Buffer.from(await response.arrayBuffer()), mimeType: MIME_TYPES[speech.format] };
    } catch (error) {
      throw fromOpenAiError(error);
    }
  }

  async transcribe(audio: AudioInput, model: string): Promise<string> {
    try {
      const file = await toFile(audio.data, audio.fileName, { type: audio.mimeType });
      const result = await this.client.audio.transcriptions.create({ file, model }, { signal: audio.signal });
      return result.text.trim();
    } catch (error) {
      throw fromOpenAiError(error);
    }
  }
}

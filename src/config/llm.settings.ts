import { SettingsError } from './env-readers';

// LLM_PROVIDERS section: one entry per model the user may pick (CONTRACT §5), with per-model
// tuning. Every field is checked here so a typo stops boot instead of failing the first message.
export type LlmProviderType = 'openai' | 'anthropic' | 'dify' | 'demo';
export const LLM_PROVIDER_TYPES: readonly LlmProviderType[] = ['openai', 'anthropic', 'dify', 'demo'];

export type SpeechFormat = 'mp3' | 'opus' | 'aac' | 'flac' | 'wav';
const SPEECH_FORMATS: readonly SpeechFormat[] = ['mp3', 'opus', 'aac', 'flac', 'wav'];

// What happens to files the AI produces (Dify files, image URLs in replies): copied into our
// storage, kept as the vendor's URL, or ignored.
export type GeneratedFilesMode = 'store' | 'external' | 'off';
const FILE_MODES: readonly GeneratedFilesMode[] = ['store', 'external', 'off'];

export interface SpeechSettings {
  model: string;
  voice: string;
  format: SpeechFormat;
  // OpenAI-compatible speech endpoint; defaults to the model's own when it is an openai model
  endpoint?: string;
  api_key?: string;
}

export interface LlmModelSettings {
  id: string;
  name: string;
  type: LlmProviderType;
  endpoint?: string;
  api_key?: string;
  model?: string;
  system_prompt?: string;
  temperature?: number;
  max_tokens?: number;
  timeout_ms?: number;
  // context budget in tokens (prompt + reply); older history is dropped to fit
  context_tokens?: number;
  // demo only: pause between streamed words
  delay_ms?: number;
  retry_attempts?: number;
  retry_base_ms?: number;
  breaker_failures?: number;
  breaker_cooldown_ms?: number;
  // ask the model for a short session title after the first exchange (default on, except demo)
  titles?: boolean;
  // openai: the audio transcription model for voice messages
  transcription_model?: string;
  tts?: SpeechSettings;
  files?: GeneratedFilesMode;
  // hosts (host or host:port) whose AI files may be fetched although they resolve to private addresses
  file_hosts?: string[];
  // the model takes images: uploaded pictures are sent as images, not named in a note (default false)
  vision?: boolean;
  // the model reads PDFs: uploaded PDFs are sent as documents, not named in a note (default false;
  // apart from vision, since an OpenAI-compatible server may read images and refuse file parts)
  documents?: boolean;
}

type Fields = Record<string, unknown>;

class EntryReader {
  constructor(
    readonly where: string,
    private readonly fields: Fields,
  ) {}

  string(field: string, needed = false): string | undefined {
    const value = this.fields[field];
    if (value === undefined && !needed) return undefined;
    if (typeof value !== 'string' || value.trim() === '')
      throw new SettingsError(`${this.where}.${field}`, 'must be a non-empty string');
    return value;
  }

  number(field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const value = this.fields[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new SettingsError(`${this.where}.${field}`, `must be a number between ${min} and ${max}`);
    }
    return value;
  }

  integer(field: string, min: number, max: number): number | undefined {
    const value = this.number(field, min, max);
    if (value !== undefined && !Number.isInteger(value))
      throw new SettingsError(`${this.where}.${field}`, 'must be a whole number');
    return value;
  }

  boolean(field: string): boolean | undefined {
    const value = this.fields[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean')
      throw new SettingsError(`${this.where}.${field}`, 'must be true or false');
    return value;
  }

  url(field: string): string | undefined {
    const value = this.string(field);
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new SettingsError(`${this.where}.${field}`, 'must be a URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new SettingsError(`${this.where}.${field}`, 'must be an http(s) URL');
    return value;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    const value = this.string(field);
    if (value !== undefined && !allowed.includes(value as T))
      throw new SettingsError(`${this.where}.${field}`, `must be one of ${allowed.join(', ')}`);
    return value as T | undefined;
  }

  strings(field: string): string[] | undefined {
    const value = this.fields[field];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item.trim() === ''))
      throw new SettingsError(`${this.where}.${field}`, 'must be an array of non-empty strings');
    return value as string[];
  }

  object(field: string): EntryReader | undefined {
    const value = this.fields[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new SettingsError(`${this.where}.${field}`, 'must be an object');
    return new EntryReader(`${this.where}.${field}`, value as Fields);
  }
}

export function parseLlmModels(raw: string, name = 'LLM_PROVIDERS'): LlmModelSettings[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SettingsError(name, 'must be a JSON array');
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new SettingsError(name, 'must be a non-empty JSON array');
  const seen = new Set<string>();
  return parsed.map((entry: unknown, index) => {
    const where = `${name}[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new SettingsError(where, 'must be an object');
    const model = parseModel(new EntryReader(where, entry as Fields), where);
    if (seen.has(model.id)) throw new SettingsError(`${where}.id`, `duplicate model id "${model.id}"`);
    seen.add(model.id);
    return model;
  });
}

function parseModel(entry: EntryReader, where: string): LlmModelSettings {
  const id = entry.string('id', true) as string;
  const type = entry.string('type', true) as LlmProviderType;
  if (!LLM_PROVIDER_TYPES.includes(type))
    throw new SettingsError(`${where}.type`, `must be one of ${LLM_PROVIDER_TYPES.join(', ')}`);
  const endpoint = entry.url('endpoint');
  const modelName = entry.string('model', type === 'openai' || type === 'anthropic');
  // vendors that cannot answer without a key: refuse at boot rather than on the first message
  const apiKey = entry.string('api_key', type === 'anthropic' || type === 'dify');
  const settings: LlmModelSettings = {
    id,
    name: entry.string('name') ?? id,
    type,
    endpoint,
    api_key: apiKey,
    model: modelName,
    system_prompt: entry.string('system_prompt'),
    temperature: entry.number('temperature', 0, 2),
    max_tokens: entry.integer('max_tokens', 1, 1_000_000),
    timeout_ms: entry.integer('timeout_ms', 1, 3_600_000),
    context_tokens: entry.integer('context_tokens', 1, 100_000_000),
    delay_ms: entry.number('delay_ms', 0, 60_000),
    retry_attempts: entry.integer('retry_attempts', 1, 10),
    retry_base_ms: entry.integer('retry_base_ms', 0, 60_000),
    breaker_failures: entry.integer('breaker_failures', 1, 1000),
    breaker_cooldown_ms: entry.integer('breaker_cooldown_ms', 0, 3_600_000),
    titles: entry.boolean('titles'),
    transcription_model: entry.string('transcription_model'),
    tts: parseSpeech(entry, type, endpoint, apiKey),
    files: entry.oneOf('files', FILE_MODES),
    file_hosts: entry.strings('file_hosts')?.map((host) => host.toLowerCase()),
    vision: entry.boolean('vision'),
    documents: entry.boolean('documents'),
  };
  // a Dify app decides itself which files it reads; a PDF goes to it as a note
  if (settings.documents && type === 'dify')
    throw new SettingsError(`${where}.documents`, 'is not supported for "dify" models');
  if (settings.max_tokens !== undefined && settings.context_tokens !== undefined) {
    if (settings.max_tokens >= settings.context_tokens)
      throw new SettingsError(`${where}.max_tokens`, 'must be smaller than context_tokens');
  }
  return stripUndefined(settings);
}

function parseSpeech(
  entry: EntryReader,
  type: LlmProviderType,
  modelEndpoint: string | undefined,
  modelApiKey: string | undefined,
): SpeechSettings | undefined {
  const tts = entry.object('tts');
  if (!tts) return undefined;
  const endpoint = tts.url('endpoint');
  // speech is OpenAI's API: other vendors need an OpenAI-compatible endpoint of their own
  if (type !== 'openai' && endpoint === undefined)
    throw new SettingsError(`${tts.where}.endpoint`, `is required for "${type}" models`);
  const own = type === 'openai';
  return stripUndefined({
    model: tts.string('model') ?? 'gpt-4o-mini-tts',
    voice: tts.string('voice') ?? 'alloy',
    format: tts.oneOf('format', SPEECH_FORMATS) ?? 'mp3',
    endpoint: endpoint ?? (own ? modelEndpoint : undefined),
    api_key: tts.string('api_key') ?? (own ? modelApiKey : undefined),
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

import { readFileSync } from 'node:fs';
import {
  duration,
  encryptionKey,
  type Env,
  integer,
  list,
  required,
  SettingsError,
  text,
  url,
} from './env-readers';
import { loadNotificationSettings, type NotificationSettings } from './notifications.settings';
import { loadUploadSettings, type UploadSettings } from './uploads.settings';

export { SettingsError } from './env-readers';

// The only place that reads process.env. Every setting is parsed and checked before the app is
// created; the first bad one stops boot with a message naming it.
export type LlmProviderType = 'openai' | 'anthropic' | 'dify' | 'demo';
export const LLM_PROVIDER_TYPES: readonly LlmProviderType[] = ['openai', 'anthropic', 'dify', 'demo'];

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
  context_tokens?: number;
  // demo only: pause between streamed words
  delay_ms?: number;
}

export interface Settings {
  port: number;
  host: string;
  mongodbUri: string;
  jwt: { secret?: string; publicKey?: string; adminRoles: string[] };
  allowedOrigins: string[];
  reconnectTimeoutMs: number;
  maxMessageLength: number;
  rateLimitMessagesPerSecond: number;
  encryption: { key: Buffer; previousKeys: Buffer[] };
  redisUrl?: string;
  llmModels: LlmModelSettings[];
  maxSessionBytes: number;
  heartbeatMs: number;
  maxPayloadBytes: number;
  sweepIntervalMs: number;
  shutdownGraceMs: number;
  takeoverGraceMs: number;
  publicBaseUrl: string;
  logLevel: string;
  uploads: UploadSettings;
  notifications: NotificationSettings;
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
    if (typeof entry !== 'object' || entry === null) throw new SettingsError(where, 'must be an object');
    const model = entry as Record<string, unknown>;
    const stringField = (field: string, needed: boolean): string | undefined => {
      const value = model[field];
      if (value === undefined && !needed) return undefined;
      if (typeof value !== 'string' || value.trim() === '')
        throw new SettingsError(`${where}.${field}`, 'must be a non-empty string');
      return value;
    };
    const numberField = (field: string): number | undefined => {
      const value = model[field];
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new SettingsError(`${where}.${field}`, 'must be a non-negative number');
      }
      return value;
    };
    const id = stringField('id', true) as string;
    if (seen.has(id)) throw new SettingsError(`${where}.id`, `duplicate model id "${id}"`);
    seen.add(id);
    const type = stringField('type', true) as LlmProviderType;
    if (!LLM_PROVIDER_TYPES.includes(type)) {
      throw new SettingsError(`${where}.type`, `must be one of ${LLM_PROVIDER_TYPES.join(', ')}`);
    }
    const endpoint = stringField('endpoint', false);
    if (endpoint !== undefined) {
      try {
        new URL(endpoint);
      } catch {
        throw new SettingsError(`${where}.endpoint`, 'must be a URL');
      }
    }
    return {
      id,
      name: stringField('name', false) ?? id,
      type,
      endpoint,
      api_key: stringField('api_key', false),
      model: stringField('model', type === 'openai' || type === 'anthropic'),
      system_prompt: stringField('system_prompt', false),
      temperature: numberField('temperature'),
      max_tokens: numberField('max_tokens'),
      timeout_ms: numberField('timeout_ms'),
      context_tokens: numberField('context_tokens'),
      delay_ms: numberField('delay_ms'),
    };
  });
}

const DEMO_MODELS = '[{"id":"demo","name":"Demo (offline)","type":"demo"}]';

export function loadSettings(env: Env = process.env): Settings {
  const secret = text(env, 'JWT_SECRET');
  const publicKeyFile = text(env, 'JWT_PUBLIC_KEY');
  if (!secret && !publicKeyFile)
    throw new SettingsError('JWT_SECRET', 'JWT_SECRET or JWT_PUBLIC_KEY is required');
  if (secret && secret.length < 32) throw new SettingsError('JWT_SECRET', 'must be at least 32 characters');
  const publicKey = publicKeyFile?.replace(/\\n/g, '\n');
  if (publicKey && !publicKey.includes('-----BEGIN'))
    throw new SettingsError('JWT_PUBLIC_KEY', 'must be a PEM public key');

  const modelsFile = text(env, 'LLM_PROVIDERS_FILE');
  let modelsRaw = text(env, 'LLM_PROVIDERS');
  if (!modelsRaw && modelsFile) {
    try {
      modelsRaw = readFileSync(modelsFile, 'utf8');
    } catch {
      throw new SettingsError('LLM_PROVIDERS_FILE', `cannot read ${modelsFile}`);
    }
  }

  const port = integer(env, 'PORT', 3000, 0, 65535);
  return {
    port,
    host: text(env, 'HOST', '0.0.0.0') as string,
    mongodbUri: required(env, 'MONGODB_URI'),
    jwt: { secret, publicKey, adminRoles: list(env, 'JWT_ADMIN_ROLES', 'admin,chat_admin') },
    allowedOrigins: list(env, 'ALLOWED_ORIGINS', ''),
    reconnectTimeoutMs: duration(env, 'RECONNECT_TIMEOUT', '15m'),
    maxMessageLength: integer(env, 'MAX_MESSAGE_LENGTH', 4096, 1, 1_000_000),
    rateLimitMessagesPerSecond: integer(env, 'RATE_LIMIT_MESSAGES_PER_SECOND', 10, 1, 100_000),
    encryption: {
      key: encryptionKey('ENCRYPTION_KEY', required(env, 'ENCRYPTION_KEY')),
      previousKeys: list(env, 'ENCRYPTION_KEY_PREVIOUS', '').map((key) =>
        encryptionKey('ENCRYPTION_KEY_PREVIOUS', key),
      ),
    },
    redisUrl: text(env, 'REDIS_URL'),
    llmModels: parseLlmModels(
      modelsRaw ?? DEMO_MODELS,
      text(env, 'LLM_PROVIDERS') ? 'LLM_PROVIDERS' : modelsFile ? 'LLM_PROVIDERS_FILE' : 'LLM_PROVIDERS',
    ),
    maxSessionBytes: integer(env, 'MAX_SESSION_BYTES', 12 * 1024 * 1024, 1024, 14 * 1024 * 1024),
    heartbeatMs: duration(env, 'HEARTBEAT_INTERVAL', '30s'),
    maxPayloadBytes: integer(env, 'WS_MAX_PAYLOAD_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    sweepIntervalMs: duration(env, 'SESSION_SWEEP_INTERVAL', '60s'),
    shutdownGraceMs: duration(env, 'SHUTDOWN_GRACE', '10s'),
    takeoverGraceMs: duration(env, 'TAKEOVER_GRACE', '60s'),
    publicBaseUrl: url(env, 'PUBLIC_BASE_URL', `http://localhost:${port}`),
    logLevel: text(env, 'LOG_LEVEL', 'info') as string,
    uploads: loadUploadSettings(env),
    notifications: loadNotificationSettings(env),
  };
}

export const SETTINGS = Symbol('SETTINGS');

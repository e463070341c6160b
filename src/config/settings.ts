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
import { type LlmModelSettings, parseLlmModels } from './llm.settings';
import { loadNotificationSettings, type NotificationSettings } from './notifications.settings';
import { loadUploadSettings, type UploadSettings } from './uploads.settings';

export { SettingsError } from './env-readers';

// The only place that reads process.env. Every setting is parsed and checked before the app is
// created; the first bad one stops boot with a message naming it.
export {
  LLM_PROVIDER_TYPES,
  parseLlmModels,
  type LlmModelSettings,
  type LlmProviderType,
} from './llm.settings';

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

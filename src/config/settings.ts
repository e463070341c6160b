import { readFileSync } from 'node:fs';
import { mongo } from 'mongoose';
import {
  duration,
  encryptionKey,
  type Env,
  integer,
  list,
  required,
  SettingsError,
  TIMER_MAX_MS,
  TIMER_MIN_MS,
  text,
  url,
} from './env-readers';
import { type LlmModelSettings, parseLlmModels } from './llm.settings';
import { loadNotificationSettings, type NotificationSettings } from './notifications.settings';
import {
  type ApiDocsMode,
  type LogLevel,
  parseAllowedOrigins,
  parseApiDocs,
  parseLogLevel,
} from './server.settings';
import { loadRoomSettings, type RoomSettings } from './rooms.settings';
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
  // WebSockets one user may hold on this instance, and all users together (docs/protocol.md, "Socket limits")
  maxSocketsPerUser: number;
  maxSockets: number;
  // connects a second one user may make on this instance, three seconds' worth at once (same section)
  connectRatePerUser: number;
  // reads of whole sessions (REST detail and export, a reconnect's replay) running at once on this
  // instance, one per user (docs/protocol.md, "Whole-session reads")
  sessionReadsAtOnce: number;
  // REST requests of one user running at once on this instance; more wait in line (docs/protocol.md,
  // "A user's requests at once")
  requestsAtOncePerUser: number;
  maxPayloadBytes: number;
  sweepIntervalMs: number;
  shutdownGraceMs: number;
  takeoverGraceMs: number;
  publicBaseUrl: string;
  logLevel: LogLevel;
  apiDocs: ApiDocsMode;
  uploads: UploadSettings;
  notifications: NotificationSettings;
  rooms: RoomSettings;
}

const DEMO_MODELS = '[{"id":"demo","name":"Demo (offline)","type":"demo"}]';

export function loadSettings(env: Env = process.env): Settings {
  const secret = text(env, 'JWT_SECRET');
  const publicKeyFile = text(env, 'JWT_PUBLIC_KEY');
  if (!secret && !publicKeyFile)
    throw new SettingsError('JWT_SECRET', 'JWT_SECRET or JWT_PUBLIC_KEY is required');
  // with both, the key would win and every HS256 token would be refused
  if (secret && publicKeyFile)
    throw new SettingsError(
      'JWT_PUBLIC_KEY',
      'set one of JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both',
    );
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
    mongodbUri: mongodbUri(env),
    jwt: { secret, publicKey, adminRoles: list(env, 'JWT_ADMIN_ROLES', 'admin,chat_admin') },
    allowedOrigins: parseAllowedOrigins(text(env, 'ALLOWED_ORIGINS')),
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
    heartbeatMs: duration(env, 'HEARTBEAT_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS),
    maxSocketsPerUser: integer(env, 'MAX_SOCKETS_PER_USER', 50, 1, 1_000_000),
    maxSockets: integer(env, 'MAX_SOCKETS', 20_000, 1, 10_000_000),
    connectRatePerUser: integer(env, 'CONNECT_RATE_PER_USER', 20, 1, 1_000_000),
    sessionReadsAtOnce: integer(env, 'SESSION_READS_AT_ONCE', 8, 1, 10_000),
    requestsAtOncePerUser: integer(env, 'REQUESTS_AT_ONCE_PER_USER', 8, 1, 10_000),
    maxPayloadBytes: integer(env, 'WS_MAX_PAYLOAD_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    sweepIntervalMs: duration(env, 'SESSION_SWEEP_INTERVAL', '60s', TIMER_MIN_MS, TIMER_MAX_MS),
    shutdownGraceMs: duration(env, 'SHUTDOWN_GRACE', '10s'),
    takeoverGraceMs: duration(env, 'TAKEOVER_GRACE', '60s'),
    publicBaseUrl: url(env, 'PUBLIC_BASE_URL', `http://localhost:${port}`),
    logLevel: parseLogLevel(text(env, 'LOG_LEVEL')),
    apiDocs: parseApiDocs(text(env, 'API_DOCS')),
    uploads: loadUploadSettings(env),
    notifications: loadNotificationSettings(env),
    rooms: loadRoomSettings(env),
  };
}

// The driver checks the URI only when it connects, after Nest has started, and its parse error
// quotes the whole URI with its password (logged at each of @nestjs/mongoose's retries). Its own
// parser checks it here, opening no connection; the refusal never quotes the value.
function mongodbUri(env: Env): string {
  const uri = required(env, 'MONGODB_URI');
  if (!/^mongodb(\+srv)?:\/\//.test(uri))
    throw new SettingsError('MONGODB_URI', 'must start with mongodb:// or mongodb+srv://');
  try {
    new mongo.MongoClient(uri);
  } catch {
    throw new SettingsError(
      'MONGODB_URI',
      'the MongoDB driver cannot parse it (check its hosts and ports, that its user and password are percent-encoded, and its options)',
    );
  }
  return uri;
}

export const SETTINGS = Symbol('SETTINGS');

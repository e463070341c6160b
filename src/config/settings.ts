import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mongo } from 'mongoose';
import {
  duration,
  encryptionKey,
  type Env,
  host,
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
import { parseRedisUrl } from './redis.settings';
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
  jwt: { secret?: string; publicKey?: string; adminRoles: string[]; clockToleranceMs: number };
  allowedOrigins: string[];
  reconnectTimeoutMs: number;
  maxMessageLength: number;
  rateLimitMessagesPerSecond: number;
  encryption: { key: Buffer; previousKeys: Buffer[] };
  redisUrl?: string;
  llmModels: LlmModelSettings[];
  // the longest one reply may take, every attempt included (docs/protocol.md, "Vendor streams end
  // with the vendor's end")
  llmReplyTimeoutMs: number;
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
  // voice messages being transcribed at once on this instance, one per user; each holds its file
  // several times over (docs/protocol.md, "Uploads and files")
  voiceTranscriptionsMax: number;
  maxPayloadBytes: number;
  sweepIntervalMs: number;
  // a session its user deleted stays readable by admins this long, then is purged with what it holds
  // (docs/protocol.md, "Session library")
  deletedSessionRetentionMs: number;
  shutdownGraceMs: number;
  requestBodyTimeoutMs: number;
  responseIdleTimeoutMs: number;
  takeoverGraceMs: number;
  replyLeaseMs: number;
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
  const publicKey =
    publicKeyFile === undefined ? undefined : jwtPublicKey(publicKeyFile.replace(/\\n/g, '\n'));

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
    host: host(env, 'HOST', '0.0.0.0') as string,
    mongodbUri: mongodbUri(env),
    jwt: {
      secret,
      publicKey,
      adminRoles: adminRoles(env),
      // for `nbf` only (docs/protocol.md, "Tokens"): a parent app's clock a little ahead of ours
      clockToleranceMs: duration(env, 'JWT_CLOCK_TOLERANCE', '5s', 0, 300_000),
    },
    allowedOrigins: parseAllowedOrigins(text(env, 'ALLOWED_ORIGINS')),
    // 0 would end every session at its socket's close: nothing could resume
    reconnectTimeoutMs: duration(env, 'RECONNECT_TIMEOUT', '15m', 1_000),
    maxMessageLength: integer(env, 'MAX_MESSAGE_LENGTH', 4096, 1, 1_000_000),
    rateLimitMessagesPerSecond: integer(env, 'RATE_LIMIT_MESSAGES_PER_SECOND', 10, 1, 100_000),
    encryption: {
      key: encryptionKey('ENCRYPTION_KEY', required(env, 'ENCRYPTION_KEY')),
      previousKeys: list(env, 'ENCRYPTION_KEY_PREVIOUS', '').map((key) =>
        encryptionKey('ENCRYPTION_KEY_PREVIOUS', key),
      ),
    },
    redisUrl: parseRedisUrl(text(env, 'REDIS_URL')),
    llmModels: parseLlmModels(
      modelsRaw ?? DEMO_MODELS,
      text(env, 'LLM_PROVIDERS') ? 'LLM_PROVIDERS' : modelsFile ? 'LLM_PROVIDERS_FILE' : 'LLM_PROVIDERS',
    ),
    // a timer: past 24 days Node fires it at once; under a second no reply could be answered
    llmReplyTimeoutMs: duration(env, 'LLM_REPLY_TIMEOUT', '5m', 1_000, TIMER_MAX_MS),
    maxSessionBytes: integer(env, 'MAX_SESSION_BYTES', 12 * 1024 * 1024, 1024, 14 * 1024 * 1024),
    heartbeatMs: duration(env, 'HEARTBEAT_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS),
    maxSocketsPerUser: integer(env, 'MAX_SOCKETS_PER_USER', 50, 1, 1_000_000),
    maxSockets: integer(env, 'MAX_SOCKETS', 20_000, 1, 10_000_000),
    connectRatePerUser: integer(env, 'CONNECT_RATE_PER_USER', 20, 1, 1_000_000),
    sessionReadsAtOnce: integer(env, 'SESSION_READS_AT_ONCE', 8, 1, 10_000),
    requestsAtOncePerUser: integer(env, 'REQUESTS_AT_ONCE_PER_USER', 8, 1, 10_000),
    voiceTranscriptionsMax: integer(env, 'VOICE_TRANSCRIPTIONS_MAX', 2, 1, 1_000),
    maxPayloadBytes: integer(env, 'WS_MAX_PAYLOAD_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    sweepIntervalMs: duration(env, 'SESSION_SWEEP_INTERVAL', '60s', TIMER_MIN_MS, TIMER_MAX_MS),
    // as ALERT_RETENTION and ROOM_RETENTION: a date's distance, no timer (the sweep runs at most hourly)
    deletedSessionRetentionMs: duration(env, 'DELETED_SESSION_RETENTION', '30d', 1000),
    // both drive timers (the last connections' cut, the lease renewals), which Node fires after 1 ms
    // past 2^31-1 ms
    shutdownGraceMs: duration(env, 'SHUTDOWN_GRACE', '10s', 0, TIMER_MAX_MS),
    // the time a request other than an upload has to arrive whole (src/common/http/request-gate.ts)
    requestBodyTimeoutMs: duration(env, 'REQUEST_BODY_TIMEOUT', '30s', 1_000, TIMER_MAX_MS),
    // how long an answer's client may take none of it before its connection is closed, as nginx's
    // send_timeout (src/common/http/response-written.ts)
    responseIdleTimeoutMs: duration(env, 'RESPONSE_IDLE_TIMEOUT', '60s', 1_000, TIMER_MAX_MS),
    // at least a second: with 0 a takeover lapsed the instant it was taken (contract audit)
    takeoverGraceMs: duration(env, 'TAKEOVER_GRACE', '60s', 1_000, TIMER_MAX_MS),
    // how long a streaming reply's lease holds without renewal (renewed every third of it): how
    // long the turn of an instance that died or froze mid-reply waits before another answers it,
    // and how long a reply waits for a Redis that is away (docs/protocol.md, "Every acked turn ends")
    replyLeaseMs: duration(env, 'REPLY_LEASE', '10s', 2_000, 600_000),
    publicBaseUrl: url(env, 'PUBLIC_BASE_URL', `http://localhost:${port}`),
    logLevel: parseLogLevel(text(env, 'LOG_LEVEL')),
    apiDocs: parseApiDocs(text(env, 'API_DOCS')),
    uploads: loadUploadSettings(env),
    notifications: loadNotificationSettings(env),
    rooms: loadRoomSettings(env),
  };
}

// "," is a list of no roles: nobody could ever be an admin
function adminRoles(env: Env): string[] {
  const roles = list(env, 'JWT_ADMIN_ROLES', 'admin,chat_admin');
  if (roles.length === 0)
    throw new SettingsError(
      'JWT_ADMIN_ROLES',
      'must name at least one role (a comma list: admin,chat_admin)',
    );
  return roles;
}

// The key TokenService verifies with, read here as it will be: a PEM Node cannot read stopped Nest's
// startup with a crypto error naming no setting, and a key neither RS256 nor ES256 can use (Ed25519,
// RSA-PSS, an EC key on a curve other than P-256) refused every token.
function jwtPublicKey(pem: string): string {
  if (!pem.includes('-----BEGIN')) throw new SettingsError('JWT_PUBLIC_KEY', 'must be a PEM public key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new SettingsError('JWT_PUBLIC_KEY', 'is not a PEM key Node can read');
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'rsa' || (type === 'ec' && curve === 'prime256v1')) return pem;
  throw new SettingsError(
    'JWT_PUBLIC_KEY',
    `must be an RSA key (RS256) or an EC key on P-256 (ES256), got ${type === 'ec' ? `an EC key on ${curve}` : `a key of type ${type}`}`,
  );
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

import {
  describeSetting,
  duration,
  type Env,
  host as hostSetting,
  integer,
  SettingsError,
  text,
  TIMER_MAX_MS,
  TIMER_MIN_MS,
} from './env-readers';

// Uploads section: storage driver (S3 or local disk), limits, quotas, signed URLs, clamd.
export interface S3Settings {
  bucket: string;
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  // no byte to or from S3 for this long (or no connection in it) fails the request; the SDK tries
  // it three times in all
  timeoutMs: number;
}

export interface UploadSettings {
  // S3 when S3_BUCKET is set, else local disk under `localDir`
  s3?: S3Settings;
  localDir: string;
  maxBytes: number;
  allowedTypes: string[];
  signedUrlTtlMs: number;
  // unset = scanning off (logged at boot)
  clamav?: { host: string; port: number; timeoutMs: number };
  // per user: uploads per rolling minute, and total bytes of files kept
  ratePerMinute: number;
  quotaBytes: number;
  // uploads never attached to a message are deleted after this long
  unattachedTtlMs: number;
  cleanupIntervalMs: number;
}

export const DEFAULT_ALLOWED_TYPES =
  'image/png,image/jpeg,image/webp,image/gif,application/pdf,text/plain,' +
  'audio/webm,audio/ogg,audio/mpeg,audio/wav,audio/mp4';

const MIME_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;

// Accepts a comma list of lower-case type/subtype values (no wildcards: the list is an allow-list).
export function parseAllowedTypes(raw: string, name = 'UPLOAD_ALLOWED_TYPES'): string[] {
  const types = raw
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item.length > 0);
  if (types.length === 0) throw new SettingsError(name, 'must list at least one MIME type');
  for (const type of types) {
    if (!MIME_PATTERN.test(type))
      throw new SettingsError(name, `"${type}" is not a MIME type (type/subtype)`);
  }
  return [...new Set(types)];
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new SettingsError(name, `must be true or false, got "${raw}"`);
}

// Without S3_BUCKET uploads go to local disk: an endpoint or credentials then mean S3 was intended
// and the bucket forgotten. (S3_REGION and S3_FORCE_PATH_STYLE are only defaults; left alone.)
const S3_ONLY = ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;
// below a second an S3 that is merely busy fails uploads; above 10 minutes a stalled one holds them
const S3_TIMEOUT_MIN_MS = 1000;
const S3_TIMEOUT_MAX_MS = 10 * 60_000;

function loadS3(env: Env): S3Settings | undefined {
  const bucket = text(env, 'S3_BUCKET');
  if (!bucket) {
    const stray = S3_ONLY.filter((name) => text(env, name) !== undefined);
    if (stray.length > 0)
      throw new SettingsError(
        'S3_BUCKET',
        `is required when ${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} set ` +
          '(unset them all for local-disk storage)',
      );
    return undefined;
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new SettingsError(
      'S3_BUCKET',
      'must be a valid bucket name (3-63 lower-case letters, digits, . or -)',
    );
  const endpoint = text(env, 'S3_ENDPOINT');
  if (endpoint !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw new SettingsError('S3_ENDPOINT', `must be a URL, got "${endpoint}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new SettingsError('S3_ENDPOINT', 'must be an http(s) URL');
  }
  const accessKeyId = text(env, 'S3_ACCESS_KEY_ID');
  const secretAccessKey = text(env, 'S3_SECRET_ACCESS_KEY');
  // both or neither: neither = the SDK's default credential chain (instance role, profile…)
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new SettingsError(
      accessKeyId === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY',
      'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together',
    );
  }
  describeSetting({ name: 'S3_REGION', kind: 'text', range: 'region name (letters, digits, -)' });
  const region = text(env, 'S3_REGION', 'us-east-1') as string;
  // the AWS SDK refuses any other on every request ("Region not accepted"), custom endpoints too
  if (!/^(?!-)[A-Za-z0-9-]{1,63}$/.test(region) || region.endsWith('-'))
    throw new SettingsError('S3_REGION', `must be a region name such as us-east-1, got "${region}"`);
  return {
    bucket,
    endpoint: endpoint?.replace(/\/+$/, ''),
    region,
    accessKeyId,
    secretAccessKey,
    // S3-compatible servers (MinIO, Ceph…) usually want path-style URLs; AWS wants virtual-hosted
    forcePathStyle: flag(env, 'S3_FORCE_PATH_STYLE', endpoint !== undefined),
    // an idle time, not a total: a large part on a slow link keeps going while its bytes move
    timeoutMs: duration(env, 'S3_TIMEOUT', '10s', S3_TIMEOUT_MIN_MS, S3_TIMEOUT_MAX_MS),
  };
}

export function loadUploadSettings(env: Env): UploadSettings {
  const host = hostSetting(env, 'CLAMAV_HOST');
  const signedUrlTtlMs = duration(env, 'SIGNED_URL_TTL', '5m');
  // S3 presigned URLs allow 1 second to 7 days
  if (signedUrlTtlMs < 1000 || signedUrlTtlMs > 7 * 86_400_000)
    throw new SettingsError('SIGNED_URL_TTL', 'must be between 1s and 7d');
  return {
    s3: loadS3(env),
    localDir: text(env, 'UPLOAD_DIR', '.data/uploads') as string,
    maxBytes: integer(env, 'UPLOAD_MAX_BYTES', 25 * 1024 * 1024, 1, 5 * 1024 * 1024 * 1024),
    allowedTypes: parseAllowedTypes(text(env, 'UPLOAD_ALLOWED_TYPES', DEFAULT_ALLOWED_TYPES) as string),
    signedUrlTtlMs,
    clamav:
      host === undefined
        ? undefined
        : {
            host,
            port: integer(env, 'CLAMAV_PORT', 3310, 1, 65535),
            timeoutMs: duration(env, 'CLAMAV_TIMEOUT', '60s', TIMER_MIN_MS, TIMER_MAX_MS),
          },
    ratePerMinute: integer(env, 'UPLOAD_RATE_PER_MINUTE', 20, 1, 100_000),
    quotaBytes: integer(env, 'UPLOAD_QUOTA_BYTES', 1024 * 1024 * 1024, 1),
    // at least a minute: with 0 an upload was swept before a client could send it
    unattachedTtlMs: duration(env, 'UPLOAD_UNATTACHED_TTL', '24h', 60_000),
    cleanupIntervalMs: duration(env, 'UPLOAD_CLEANUP_INTERVAL', '1h', TIMER_MIN_MS, TIMER_MAX_MS),
  };
}

import fc from 'fast-check';
import { SettingsError } from './env-readers';
import { DEFAULT_ALLOWED_TYPES, loadUploadSettings, parseAllowedTypes } from './uploads.settings';

function rejected(env: Record<string, string>): string {
  try {
    loadUploadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).setting;
  }
  throw new Error('accepted an invalid upload setting');
}

describe('loadUploadSettings', () => {
  it('should default to local disk, 25 MiB, the voice-ready type list and scanning off', () => {
    const settings = loadUploadSettings({});
    expect(settings.s3).toBeUndefined();
    expect(settings.localDir).toBe('.data/uploads');
    expect(settings.maxBytes).toBe(25 * 1024 * 1024);
    expect(settings.allowedTypes).toEqual(DEFAULT_ALLOWED_TYPES.split(','));
    expect(settings.allowedTypes).toEqual(
      expect.arrayContaining(['audio/webm', 'audio/ogg', 'audio/mpeg', 'audio/wav', 'audio/mp4']),
    );
    expect(settings.clamav).toBeUndefined();
    expect(settings.signedUrlTtlMs).toBe(300_000);
    expect(settings.unattachedTtlMs).toBe(86_400_000);
  });

  it('should read S3, clamd, limits and quotas when they are set', () => {
    const settings = loadUploadSettings({
      S3_BUCKET: 'chat-files',
      S3_ENDPOINT: 'http://127.0.0.1:9000/',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
      UPLOAD_MAX_BYTES: '1024',
      UPLOAD_ALLOWED_TYPES: 'image/png, Text/Plain ,image/png',
      CLAMAV_HOST: 'clamd',
      SIGNED_URL_TTL: '30s',
      UPLOAD_RATE_PER_MINUTE: '3',
      UPLOAD_QUOTA_BYTES: '4096',
      UPLOAD_UNATTACHED_TTL: '2h',
    });
    expect(settings.s3).toEqual({
      bucket: 'chat-files',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      forcePathStyle: true,
      timeoutMs: 10_000,
    });
    expect(settings.maxBytes).toBe(1024);
    expect(settings.allowedTypes).toEqual(['image/png', 'text/plain']);
    expect(settings.clamav).toEqual({ host: 'clamd', port: 3310, timeoutMs: 60_000 });
    expect(settings.signedUrlTtlMs).toBe(30_000);
    expect(settings.ratePerMinute).toBe(3);
    expect(settings.quotaBytes).toBe(4096);
    expect(settings.unattachedTtlMs).toBe(7_200_000);
  });

  it('should use virtual-hosted S3 URLs on AWS unless path style is asked for', () => {
    expect(loadUploadSettings({ S3_BUCKET: 'b-1' }).s3?.forcePathStyle).toBe(false);
    expect(loadUploadSettings({ S3_BUCKET: 'b-1', S3_FORCE_PATH_STYLE: 'true' }).s3?.forcePathStyle).toBe(
      true,
    );
    expect(
      loadUploadSettings({ S3_BUCKET: 'b-1', S3_ENDPOINT: 'http://minio:9000', S3_FORCE_PATH_STYLE: 'no' }).s3
        ?.forcePathStyle,
    ).toBe(false);
  });

  it('should read S3_TIMEOUT as a duration between 1s and 10m', () => {
    expect(loadUploadSettings({ S3_BUCKET: 'b-1', S3_TIMEOUT: '2500ms' }).s3?.timeoutMs).toBe(2500);
    expect(loadUploadSettings({ S3_BUCKET: 'b-1', S3_TIMEOUT: '10m' }).s3?.timeoutMs).toBe(600_000);
    for (const raw of ['999ms', '11m', '0', 'soon', '-5s'])
      expect(rejected({ S3_BUCKET: 'b-1', S3_TIMEOUT: raw })).toBe('S3_TIMEOUT');
  });

  it('should throw naming S3_BUCKET when an S3 endpoint or S3 credentials are set without it', () => {
    expect(rejected({ S3_ACCESS_KEY_ID: 'id' })).toBe('S3_BUCKET');
    expect(rejected({ S3_SECRET_ACCESS_KEY: 'secret' })).toBe('S3_BUCKET');
    expect(rejected({ S3_ACCESS_KEY_ID: 'id', S3_SECRET_ACCESS_KEY: 'secret' })).toBe('S3_BUCKET');
    expect(rejected({ S3_BUCKET: ' ', S3_ENDPOINT: 'http://minio:9000' })).toBe('S3_BUCKET');
    expect(() => loadUploadSettings({ S3_ENDPOINT: 'http://minio:9000' })).toThrow(
      'Invalid setting S3_BUCKET: is required when S3_ENDPOINT is set',
    );
  });

  it('should keep local disk when the S3 settings are blank or only S3_REGION or S3_FORCE_PATH_STYLE is set', () => {
    const blank = { S3_BUCKET: '', S3_ENDPOINT: '', S3_ACCESS_KEY_ID: ' ', S3_SECRET_ACCESS_KEY: '' };
    expect(loadUploadSettings(blank).s3).toBeUndefined();
    expect(loadUploadSettings({ S3_REGION: 'eu-west-1', S3_FORCE_PATH_STYLE: 'true' }).s3).toBeUndefined();
  });

  it('should return settings or throw a SettingsError naming an S3 setting when the S3 settings are any strings', () => {
    const maybe = fc.option(fc.oneof(fc.string(), fc.constantFrom('b-1', 'id', 'http://minio:9000')), {
      nil: undefined,
    });
    fc.assert(
      fc.property(maybe, maybe, maybe, maybe, (bucket, endpoint, keyId, secret) => {
        const env = {
          S3_BUCKET: bucket,
          S3_ENDPOINT: endpoint,
          S3_ACCESS_KEY_ID: keyId,
          S3_SECRET_ACCESS_KEY: secret,
        };
        try {
          const { s3 } = loadUploadSettings(env);
          // no S3 setting is ever silently dropped
          if (s3 === undefined) expect([endpoint, keyId, secret].every((v) => !v?.trim())).toBe(true);
          else expect((s3.accessKeyId === undefined) === (s3.secretAccessKey === undefined)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toMatch(/^S3_/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should throw naming the setting when the cleanup interval or the clamd timeout is 0 or over 24 days', () => {
    expect(rejected({ UPLOAD_CLEANUP_INTERVAL: '0' })).toBe('UPLOAD_CLEANUP_INTERVAL');
    expect(rejected({ UPLOAD_CLEANUP_INTERVAL: '30d' })).toBe('UPLOAD_CLEANUP_INTERVAL');
    expect(rejected({ CLAMAV_HOST: 'clamd', CLAMAV_TIMEOUT: '0s' })).toBe('CLAMAV_TIMEOUT');
    expect(loadUploadSettings({ UPLOAD_CLEANUP_INTERVAL: '24d' }).cleanupIntervalMs).toBe(24 * 86_400_000);
  });

  it('should name the setting when a value is invalid', () => {
    expect(rejected({ S3_BUCKET: 'Bad_Bucket' })).toBe('S3_BUCKET');
    expect(rejected({ S3_BUCKET: 'b-1', S3_ENDPOINT: 'not a url' })).toBe('S3_ENDPOINT');
    expect(rejected({ S3_BUCKET: 'b-1', S3_ENDPOINT: 'ftp://host' })).toBe('S3_ENDPOINT');
    expect(rejected({ S3_BUCKET: 'b-1', S3_ACCESS_KEY_ID: 'id' })).toBe('S3_SECRET_ACCESS_KEY');
    expect(rejected({ S3_BUCKET: 'b-1', S3_FORCE_PATH_STYLE: 'maybe' })).toBe('S3_FORCE_PATH_STYLE');
    expect(rejected({ UPLOAD_MAX_BYTES: '0' })).toBe('UPLOAD_MAX_BYTES');
    expect(rejected({ UPLOAD_MAX_BYTES: '10MB' })).toBe('UPLOAD_MAX_BYTES');
    expect(rejected({ UPLOAD_ALLOWED_TYPES: 'png' })).toBe('UPLOAD_ALLOWED_TYPES');
    expect(rejected({ UPLOAD_ALLOWED_TYPES: 'image/*' })).toBe('UPLOAD_ALLOWED_TYPES');
    expect(rejected({ UPLOAD_ALLOWED_TYPES: ' , ' })).toBe('UPLOAD_ALLOWED_TYPES');
    expect(rejected({ CLAMAV_HOST: 'clamd', CLAMAV_PORT: '99999' })).toBe('CLAMAV_PORT');
    expect(rejected({ SIGNED_URL_TTL: '0s' })).toBe('SIGNED_URL_TTL');
    expect(rejected({ SIGNED_URL_TTL: '8d' })).toBe('SIGNED_URL_TTL');
    expect(rejected({ UPLOAD_QUOTA_BYTES: '-1' })).toBe('UPLOAD_QUOTA_BYTES');
  });

  // the AWS SDK refuses a region that is not a host name label on every request ("Region not
  // accepted"), and clamd at a host that cannot be one is a scanner that is always down
  it('should throw naming S3_REGION or CLAMAV_HOST when no request could ever reach it', () => {
    for (const region of ['eu_west', 'eu west 1', '-eu', 'eu.west', 'a'.repeat(64)])
      expect(rejected({ S3_BUCKET: 'b-1', S3_REGION: region })).toBe('S3_REGION');
    for (const region of ['eu-west-1', 'garage', 'US-EAST-1'])
      expect(loadUploadSettings({ S3_BUCKET: 'b-1', S3_REGION: region }).s3?.region).toBe(region);
    for (const host of ['bad host!', 'clamd:3310', 'tcp://clamd', '[::1]'])
      expect(rejected({ CLAMAV_HOST: host })).toBe('CLAMAV_HOST');
    for (const host of ['clamd', '10.0.0.5', '::1', 'clamav.security.svc.cluster.local'])
      expect(loadUploadSettings({ CLAMAV_HOST: host }).clamav?.host).toBe(host);
  });
});

describe('parseAllowedTypes', () => {
  it('should either return lower-case type/subtype values or throw naming the setting', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (raw) => {
        try {
          const types = parseAllowedTypes(raw);
          expect(types.length).toBeGreaterThan(0);
          for (const type of types)
            expect(type).toMatch(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('UPLOAD_ALLOWED_TYPES');
        }
      }),
      { numRuns: 500 },
    );
  });
});

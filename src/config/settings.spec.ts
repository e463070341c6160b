import fc from 'fast-check';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, SettingsError } from './settings';

type Env = Record<string, string | undefined>;

const ENCRYPTION_KEY = randomBytes(32);
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

function validEnv(overrides: Env = {}): Env {
  return {
    MONGODB_URI: 'mongodb://localhost:27017/chatbox',
    JWT_SECRET: 'x'.repeat(40),
    ENCRYPTION_KEY: ENCRYPTION_KEY.toString('base64'),
    ...overrides,
  };
}

// The SettingsError thrown by loadSettings, so its setting and message can be checked.
function settingsError(env: Env): SettingsError {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('loadSettings accepted an invalid environment');
}

function expectRejected(env: Env, setting: string): void {
  const error = settingsError(env);
  expect(error.setting).toBe(setting);
  expect(error.message).toContain(setting);
}

describe('loadSettings', () => {
  it('should apply the documented defaults when only the required settings are given', () => {
    const settings = loadSettings(validEnv());
    expect(settings.port).toBe(3000);
    expect(settings.reconnectTimeoutMs).toBe(900_000);
    expect(settings.maxMessageLength).toBe(4096);
    expect(settings.rateLimitMessagesPerSecond).toBe(10);
    expect(settings.takeoverGraceMs).toBe(60_000);
    expect(settings.jwt).toEqual({
      secret: 'x'.repeat(40),
      publicKey: undefined,
      adminRoles: ['admin', 'chat_admin'],
      clockToleranceMs: 5000,
    });
    expect(settings.allowedOrigins).toEqual([]);
    expect(settings.redisUrl).toBeUndefined();
    expect(settings.mongodbUri).toBe('mongodb://localhost:27017/chatbox');
    expect(settings.encryption.key.equals(ENCRYPTION_KEY)).toBe(true);
    expect(settings.encryption.previousKeys).toEqual([]);
    expect(settings.publicBaseUrl).toBe('http://localhost:3000');
  });

  it('should configure the offline demo model when LLM_PROVIDERS is unset', () => {
    const settings = loadSettings(validEnv());
    expect(settings.llmModels).toHaveLength(1);
    expect(settings.llmModels[0]).toMatchObject({ id: 'demo', type: 'demo' });
  });

  it('should read every setting when they are given', () => {
    const previous = randomBytes(32);
    const settings = loadSettings(
      validEnv({
        PORT: '8080',
        RECONNECT_TIMEOUT: '30s',
        MAX_MESSAGE_LENGTH: '100',
        RATE_LIMIT_MESSAGES_PER_SECOND: '3',
        JWT_ADMIN_ROLES: ' ops , support ,',
        ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        ENCRYPTION_KEY_PREVIOUS: previous.toString('base64'),
        REDIS_URL: 'redis://localhost:6379',
        TAKEOVER_GRACE: '2m',
        LLM_PROVIDERS: '[{"id":"gpt","type":"openai","model":"gpt-4o-mini","api_key":"k"}]',
      }),
    );
    expect(settings.port).toBe(8080);
    expect(settings.reconnectTimeoutMs).toBe(30_000);
    expect(settings.maxMessageLength).toBe(100);
    expect(settings.rateLimitMessagesPerSecond).toBe(3);
    expect(settings.jwt.adminRoles).toEqual(['ops', 'support']);
    expect(settings.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(settings.encryption.previousKeys[0].equals(previous)).toBe(true);
    expect(settings.redisUrl).toBe('redis://localhost:6379');
    expect(settings.takeoverGraceMs).toBe(120_000);
    expect(settings.llmModels).toEqual([
      expect.objectContaining({ id: 'gpt', name: 'gpt', type: 'openai', model: 'gpt-4o-mini', api_key: 'k' }),
    ]);
  });

  it('should accept JWT_PUBLIC_KEY instead of JWT_SECRET when it is a PEM key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const settings = loadSettings(
      validEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n') }),
    );
    expect(settings.jwt.secret).toBeUndefined();
    expect(settings.jwt.publicKey?.trim()).toBe(pem.trim());
  });

  it('should read the models from LLM_PROVIDERS_FILE when LLM_PROVIDERS is unset', () => {
    const directory = mkdtempSync(join(tmpdir(), 'settings-spec-'));
    try {
      const file = join(directory, 'models.json');
      writeFileSync(file, '[{"id":"d2","name":"Demo two","type":"demo"}]');
      expect(loadSettings(validEnv({ LLM_PROVIDERS_FILE: file })).llmModels[0]).toMatchObject({ id: 'd2' });
      expectRejected(validEnv({ LLM_PROVIDERS_FILE: join(directory, 'missing.json') }), 'LLM_PROVIDERS_FILE');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('should throw naming MONGODB_URI when it is missing or blank', () => {
    expectRejected(validEnv({ MONGODB_URI: undefined }), 'MONGODB_URI');
    expectRejected(validEnv({ MONGODB_URI: '   ' }), 'MONGODB_URI');
  });

  it('should throw naming JWT_SECRET and JWT_PUBLIC_KEY when both are missing', () => {
    const error = settingsError(validEnv({ JWT_SECRET: undefined }));
    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).toContain('JWT_PUBLIC_KEY');
  });

  it('should throw naming JWT_SECRET when it is shorter than 32 characters', () => {
    expectRejected(validEnv({ JWT_SECRET: 'short-secret' }), 'JWT_SECRET');
  });

  it('should throw naming JWT_PUBLIC_KEY and asking for one of the two when both JWT settings are set', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const error = settingsError(validEnv({ JWT_PUBLIC_KEY: pem }));
    expect(error.setting).toBe('JWT_PUBLIC_KEY');
    expect(error.message).toContain('JWT_SECRET');
    expect(error.message).toContain('not both');
  });

  it('should accept exactly one JWT setting or throw a SettingsError naming one of them when given any pair', () => {
    const maybe = fc.option(fc.oneof(fc.string(), fc.constant('x'.repeat(40)), fc.constant(PEM)), {
      nil: undefined,
    });
    fc.assert(
      fc.property(maybe, maybe, (secret, publicKey) => {
        let settings;
        try {
          settings = loadSettings(validEnv({ JWT_SECRET: secret, JWT_PUBLIC_KEY: publicKey }));
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect(['JWT_SECRET', 'JWT_PUBLIC_KEY']).toContain((error as SettingsError).setting);
          return;
        }
        expect([settings.jwt.secret, settings.jwt.publicKey].filter(Boolean)).toHaveLength(1);
      }),
      { numRuns: 300 },
    );
  });

  it('should throw naming JWT_PUBLIC_KEY when it is not a PEM key', () => {
    expectRejected(validEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: 'not a key' }), 'JWT_PUBLIC_KEY');
  });

  it('should throw naming ENCRYPTION_KEY when it is missing, the wrong length or not base64', () => {
    expectRejected(validEnv({ ENCRYPTION_KEY: undefined }), 'ENCRYPTION_KEY');
    expectRejected(validEnv({ ENCRYPTION_KEY: randomBytes(16).toString('base64') }), 'ENCRYPTION_KEY');
    expectRejected(validEnv({ ENCRYPTION_KEY: randomBytes(33).toString('base64') }), 'ENCRYPTION_KEY');
    expectRejected(validEnv({ ENCRYPTION_KEY: `!${'a'.repeat(43)}` }), 'ENCRYPTION_KEY');
  });

  it('should throw naming ENCRYPTION_KEY_PREVIOUS when a previous key is the wrong length', () => {
    expectRejected(
      validEnv({ ENCRYPTION_KEY_PREVIOUS: randomBytes(8).toString('base64') }),
      'ENCRYPTION_KEY_PREVIOUS',
    );
  });

  it('should throw naming PORT when it is not a number or out of range', () => {
    expectRejected(validEnv({ PORT: 'abc' }), 'PORT');
    expectRejected(validEnv({ PORT: '80a' }), 'PORT');
    expectRejected(validEnv({ PORT: '-1' }), 'PORT');
    expectRejected(validEnv({ PORT: '70000' }), 'PORT');
  });

  it('should throw naming the setting when a duration is not a duration', () => {
    expectRejected(validEnv({ RECONNECT_TIMEOUT: 'abc' }), 'RECONNECT_TIMEOUT');
    expectRejected(validEnv({ TAKEOVER_GRACE: '5 minutes' }), 'TAKEOVER_GRACE');
  });

  it('should throw naming the setting when a number is not a whole number', () => {
    expectRejected(validEnv({ MAX_MESSAGE_LENGTH: '1.5' }), 'MAX_MESSAGE_LENGTH');
    expectRejected(validEnv({ MAX_MESSAGE_LENGTH: '0' }), 'MAX_MESSAGE_LENGTH');
    expectRejected(validEnv({ RATE_LIMIT_MESSAGES_PER_SECOND: 'ten' }), 'RATE_LIMIT_MESSAGES_PER_SECOND');
  });

  it('should throw naming PUBLIC_BASE_URL when it is not an http(s) URL', () => {
    expectRejected(validEnv({ PUBLIC_BASE_URL: 'not a url' }), 'PUBLIC_BASE_URL');
    expectRejected(validEnv({ PUBLIC_BASE_URL: 'chatbox.example.com:443' }), 'PUBLIC_BASE_URL');
    expectRejected(validEnv({ PUBLIC_BASE_URL: 'ftp://chatbox.example.com' }), 'PUBLIC_BASE_URL');
  });

  it('should throw naming MONGODB_URI when it is not a mongodb:// or mongodb+srv:// URI', () => {
    expectRejected(validEnv({ MONGODB_URI: 'localhost:27017/chatbox' }), 'MONGODB_URI');
    expectRejected(validEnv({ MONGODB_URI: 'postgres://localhost/chatbox' }), 'MONGODB_URI');
    expect(
      loadSettings(validEnv({ MONGODB_URI: 'mongodb+srv://u:p@cluster.example/chatbox' })).mongodbUri,
    ).toBe('mongodb+srv://u:p@cluster.example/chatbox');
  });

  // only the scheme was checked: the driver's parse error, which quotes the whole URI with its
  // password, was then logged ten times as Nest started (@nestjs/mongoose's retries)
  it('should throw naming MONGODB_URI, without its value, when the driver could not parse it', () => {
    for (const uri of [
      'mongodb://chatbox:hunter2@/chatbox',
      'mongodb://chatbox:hunter2@db:99999/chatbox',
      'mongodb+srv://chatbox:hunter2@cluster.example:27017/chatbox',
      'mongodb://chatbox:hunter2@db/chatbox?tls=maybe',
      'mongodb://chatbox:hunter2@db/chatbox?authMechanism=NONE',
    ]) {
      const error = settingsError(validEnv({ MONGODB_URI: uri }));
      expect(error.setting).toBe('MONGODB_URI');
      expect(error.message).not.toContain('hunter2');
      expect(error.message).not.toContain('chatbox:');
    }
    for (const uri of [
      'mongodb://chatbox:p%40ss@db1:27017,db2:27017/chatbox?replicaSet=rs0&authSource=admin',
      'mongodb+srv://u:p@cluster.example/chatbox?retryWrites=true&w=majority',
      'mongodb://localhost/chatbox',
    ])
      expect(loadSettings(validEnv({ MONGODB_URI: uri })).mongodbUri).toBe(uri);
  });

  it('should read LOG_LEVEL as a pino level and throw naming it when it is not one', () => {
    expect(loadSettings(validEnv()).logLevel).toBe('info');
    expect(loadSettings(validEnv({ LOG_LEVEL: 'Debug' })).logLevel).toBe('debug');
    expect(loadSettings(validEnv({ LOG_LEVEL: 'silent' })).logLevel).toBe('silent');
    expect(settingsError(validEnv({ LOG_LEVEL: 'loud' })).message).toMatch(
      /^Invalid setting LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"$/,
    );
  });

  it('should throw naming ALLOWED_ORIGINS and the entry when an entry is not an origin', () => {
    const error = settingsError(validEnv({ ALLOWED_ORIGINS: 'https://a.example,notaurl' }));
    expect(error.setting).toBe('ALLOWED_ORIGINS');
    expect(error.message).toContain('"notaurl"');
    expect(loadSettings(validEnv({ ALLOWED_ORIGINS: '*' })).allowedOrigins).toEqual(['*']);
  });

  it('should throw naming the setting when a timer interval is 0 or longer than 24 days', () => {
    for (const name of ['HEARTBEAT_INTERVAL', 'SESSION_SWEEP_INTERVAL']) {
      expectRejected(validEnv({ [name]: '0' }), name);
      expectRejected(validEnv({ [name]: '25d' }), name);
      expect(settingsError(validEnv({ [name]: '0s' })).message).toContain('between 1ms and 24d');
    }
    expect(loadSettings(validEnv({ HEARTBEAT_INTERVAL: '24d' })).heartbeatMs).toBe(24 * 86_400_000);
    expect(loadSettings(validEnv({ SESSION_SWEEP_INTERVAL: '1ms' })).sweepIntervalMs).toBe(1);
  });

  it('should return settings or throw a SettingsError naming the setting when a timer interval is any string', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('HEARTBEAT_INTERVAL', 'SESSION_SWEEP_INTERVAL'),
        fc.string(),
        (name, raw) => {
          try {
            const settings = loadSettings(validEnv({ [name]: raw }));
            const value = name === 'HEARTBEAT_INTERVAL' ? settings.heartbeatMs : settings.sweepIntervalMs;
            expect(value).toBeGreaterThanOrEqual(1);
            expect(value).toBeLessThanOrEqual(2_147_483_647);
          } catch (error) {
            expect(error).toBeInstanceOf(SettingsError);
            expect((error as SettingsError).setting).toBe(name);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  // ioredis takes almost any string: "notaurl" became a host name and "http://…" the path of a Unix
  // socket, both failing only as a loop of connection errors after boot, and a bad port or escape
  // threw from Nest's startup without naming the setting (docs/protocol.md, "Settings")
  it('should throw naming REDIS_URL, without its password, when ioredis could not connect with it', () => {
    for (const url of [
      'http://127.0.0.1:6379',
      'notaurl',
      '127.0.0.1:6379',
      '//127.0.0.1:6379',
      'redis://127.0.0.1:notaport',
      'redis://:hunter2@127.0.0.1:notaport',
      'redis://:hunter2@127.0.0.1:0',
      'redis://:hunter2@127.0.0.1:6379/zero',
      'redis://:hunter2%zz@127.0.0.1:6379',
      'redis://:hunter2@/0',
      'redis+sentinel://:hunter2@sentinel:26379/mymaster',
      'unix:///var/run/redis.sock',
    ]) {
      const error = settingsError(validEnv({ REDIS_URL: url }));
      expect(error.setting).toBe('REDIS_URL');
      expect(error.message).not.toContain('hunter2');
      expect(error.message).not.toContain(url);
    }
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://redis',
      'rediss://chatbox:p%40ss@redis.example:6380/2',
      'redis://:hunter2@[::1]:6379/0?family=6',
      '/var/run/redis/redis.sock',
    ])
      expect(loadSettings(validEnv({ REDIS_URL: url })).redisUrl).toBe(url);
  });

  // "," is a list of no roles: nobody could ever be an admin
  it('should throw naming JWT_ADMIN_ROLES when it names no role', () => {
    expectRejected(validEnv({ JWT_ADMIN_ROLES: ',' }), 'JWT_ADMIN_ROLES');
    expectRejected(validEnv({ JWT_ADMIN_ROLES: ' , ,' }), 'JWT_ADMIN_ROLES');
    expect(loadSettings(validEnv({ JWT_ADMIN_ROLES: 'ops,' })).jwt.adminRoles).toEqual(['ops']);
  });

  // a PEM Node cannot read stopped Nest's startup with a crypto error that named no setting; a key
  // RS256 and ES256 cannot use (Ed25519, an EC key on another curve) refused every token
  it('should throw naming JWT_PUBLIC_KEY when Node cannot read it or RS256 and ES256 cannot use it', () => {
    const pem = (key: ReturnType<typeof generateKeyPairSync>['publicKey']) =>
      key.export({ type: 'spki', format: 'pem' }).toString();
    for (const key of [
      '-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----',
      pem(generateKeyPairSync('ed25519').publicKey),
      pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey),
      pem(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey),
    ])
      expectRejected(validEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: key }), 'JWT_PUBLIC_KEY');
    const rsa = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
    for (const key of [rsa, PEM])
      expect(loadSettings(validEnv({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: key })).jwt.publicKey).toBe(
        key.trim(),
      );
  });

  // the listen call failed after Nest had started, with getaddrinfo's error and no setting's name
  it('should throw naming HOST when it is neither an IP address nor a host name', () => {
    expectRejected(validEnv({ HOST: 'not a host!' }), 'HOST');
    expectRejected(validEnv({ HOST: '[::1]' }), 'HOST');
    expectRejected(validEnv({ HOST: 'http://0.0.0.0' }), 'HOST');
    for (const host of ['0.0.0.0', '::', '::1', 'localhost', 'chatbox-0.chatbox.default.svc'])
      expect(loadSettings(validEnv({ HOST: host })).host).toBe(host);
  });

  // both drive timers: past 2^31-1 ms Node fires them after 1 ms (SHUTDOWN_GRACE cut every
  // connection at once; TAKEOVER_GRACE renewed a lease in a loop)
  it('should throw naming SHUTDOWN_GRACE or TAKEOVER_GRACE when it is longer than 24 days', () => {
    for (const name of ['SHUTDOWN_GRACE', 'TAKEOVER_GRACE']) {
      expectRejected(validEnv({ [name]: '25d' }), name);
      expect(settingsError(validEnv({ [name]: '30d' })).message).toMatch(/between (0ms|1s) and 24d/);
    }
    expect(loadSettings(validEnv({ SHUTDOWN_GRACE: '24d' })).shutdownGraceMs).toBe(24 * 86_400_000);
  });

  // a setting of 0 booted and broke what it times (contract audit): a takeover lapsed the instant it
  // was taken, no session could resume, an upload was swept before it could be sent
  it('should throw naming TAKEOVER_GRACE, RECONNECT_TIMEOUT or UPLOAD_UNATTACHED_TTL when it is 0', () => {
    for (const [name, least] of [
      ['TAKEOVER_GRACE', '1s'],
      ['RECONNECT_TIMEOUT', '1s'],
      ['UPLOAD_UNATTACHED_TTL', '1m'],
      ['REQUEST_BODY_TIMEOUT', '1s'],
      ['RESPONSE_IDLE_TIMEOUT', '1s'],
      ['LLM_REPLY_TIMEOUT', '1s'],
    ]) {
      for (const value of ['0', '0s', '0ms', '999ms']) expectRejected(validEnv({ [name]: value }), name);
      expect(() => loadSettings(validEnv({ [name]: least }))).not.toThrow();
    }
    expect(loadSettings(validEnv({ TAKEOVER_GRACE: '1s' })).takeoverGraceMs).toBe(1_000);
    expect(loadSettings(validEnv({})).requestBodyTimeoutMs).toBe(30_000);
    expect(loadSettings(validEnv({})).responseIdleTimeoutMs).toBe(60_000);
  });

  // a reply lease shorter than a few renewal round trips would be lost by a healthy instance on a
  // slow Redis (it renews every third of it)
  it('should read REPLY_LEASE, 10 s by default, 2 s to 10 min', () => {
    expect(loadSettings(validEnv({})).replyLeaseMs).toBe(10_000);
    expect(loadSettings(validEnv({ REPLY_LEASE: '4s' })).replyLeaseMs).toBe(4_000);
    for (const value of ['0', '1999ms', '11m', 'soon'])
      expectRejected(validEnv({ REPLY_LEASE: value }), 'REPLY_LEASE');
  });

  // a vendor stream that never ended held its session's reply, and every turn after it, for ever
  it('should bound one reply by LLM_REPLY_TIMEOUT, 5 minutes unless set, at most 24 days', () => {
    expect(loadSettings(validEnv({})).llmReplyTimeoutMs).toBe(300_000);
    expect(loadSettings(validEnv({ LLM_REPLY_TIMEOUT: '90s' })).llmReplyTimeoutMs).toBe(90_000);
    expectRejected(validEnv({ LLM_REPLY_TIMEOUT: '25d' }), 'LLM_REPLY_TIMEOUT');
    expectRejected(validEnv({ LLM_REPLY_TIMEOUT: 'soon' }), 'LLM_REPLY_TIMEOUT');
  });

  // a deleted session stays readable by admins this long, then is purged with what it holds
  // (docs/protocol.md, "Session library"); as ALERT_RETENTION and ROOM_RETENTION, at least a second
  it('should keep deleted sessions DELETED_SESSION_RETENTION, 30 days unless set, at least a second', () => {
    expect(loadSettings(validEnv({})).deletedSessionRetentionMs).toBe(30 * 86_400_000);
    expect(loadSettings(validEnv({ DELETED_SESSION_RETENTION: '7d' })).deletedSessionRetentionMs).toBe(
      7 * 86_400_000,
    );
    expect(loadSettings(validEnv({ DELETED_SESSION_RETENTION: '1s' })).deletedSessionRetentionMs).toBe(1_000);
    for (const value of ['forever', '0', '999ms', '-1d'])
      expectRejected(validEnv({ DELETED_SESSION_RETENTION: value }), 'DELETED_SESSION_RETENTION');
  });

  it('should return a retention of at least a second or throw naming DELETED_SESSION_RETENTION for any string', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .tuple(fc.nat(100_000), fc.constantFrom('ms', 's', 'm', 'h', 'd', ''))
            .map(([n, u]) => `${n}${u}`),
        ),
        (raw) => {
          try {
            const retention = loadSettings(
              validEnv({ DELETED_SESSION_RETENTION: raw }),
            ).deletedSessionRetentionMs;
            expect(Number.isSafeInteger(retention)).toBe(true);
            expect(retention).toBeGreaterThanOrEqual(1_000);
          } catch (error) {
            expect(error).toBeInstanceOf(SettingsError);
            expect((error as SettingsError).setting).toBe('DELETED_SESSION_RETENTION');
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('LLM_PROVIDERS', () => {
    it('should throw naming LLM_PROVIDERS when it is not JSON', () => {
      expectRejected(validEnv({ LLM_PROVIDERS: '[{id:"x"}' }), 'LLM_PROVIDERS');
    });

    it('should throw naming LLM_PROVIDERS when it is not a non-empty array', () => {
      expectRejected(validEnv({ LLM_PROVIDERS: '{"id":"demo","type":"demo"}' }), 'LLM_PROVIDERS');
      expectRejected(validEnv({ LLM_PROVIDERS: '[]' }), 'LLM_PROVIDERS');
    });

    it('should throw naming the entry type when the provider type is unknown', () => {
      const error = settingsError(validEnv({ LLM_PROVIDERS: '[{"id":"x","type":"gemini"}]' }));
      expect(error.setting).toBe('LLM_PROVIDERS[0].type');
      expect(error.message).toContain('LLM_PROVIDERS');
    });

    it('should throw naming the entry id when two models share an id', () => {
      const error = settingsError(
        validEnv({ LLM_PROVIDERS: '[{"id":"a","type":"demo"},{"id":"a","type":"demo"}]' }),
      );
      expect(error.setting).toBe('LLM_PROVIDERS[1].id');
      expect(error.message).toContain('duplicate');
    });

    it('should throw naming the entry model when an openai or anthropic provider has no model', () => {
      expectRejected(validEnv({ LLM_PROVIDERS: '[{"id":"gpt","type":"openai"}]' }), 'LLM_PROVIDERS[0].model');
      expectRejected(
        validEnv({ LLM_PROVIDERS: '[{"id":"claude","type":"anthropic"}]' }),
        'LLM_PROVIDERS[0].model',
      );
    });

    it('should throw naming the field when an entry field has the wrong type', () => {
      expectRejected(validEnv({ LLM_PROVIDERS: '["demo"]' }), 'LLM_PROVIDERS[0]');
      expectRejected(validEnv({ LLM_PROVIDERS: '[{"type":"demo"}]' }), 'LLM_PROVIDERS[0].id');
      expectRejected(
        validEnv({ LLM_PROVIDERS: '[{"id":"d","type":"demo","endpoint":"nope"}]' }),
        'LLM_PROVIDERS[0].endpoint',
      );
      expectRejected(
        validEnv({ LLM_PROVIDERS: '[{"id":"d","type":"demo","temperature":-1}]' }),
        'LLM_PROVIDERS[0].temperature',
      );
    });
  });
});

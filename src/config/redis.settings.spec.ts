import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { parseURL } from 'ioredis/built/utils';
import { SettingsError } from './env-readers';
import { parseRedisUrl } from './redis.settings';

interface Parts {
  scheme: string;
  user?: string;
  password?: string;
  host: string;
  port?: number;
  db?: number;
}

// ioredis's own parser is the judge: what it makes of an accepted value is what it connects to.
describe(parseRedisUrl.name, () => {
  const hostname = fc.oneof(
    fc.ipV4(),
    fc.domain(),
    fc.ipV6().map((address) => `[${address}]`),
  );
  const secret = fc.stringMatching(/^[A-Za-z0-9]{6,12}$/).map((text) => `pw-${text}`);
  const url = fc.record({
    scheme: fc.constantFrom('redis', 'rediss'),
    user: fc.option(fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/), { nil: undefined }),
    password: fc.option(secret, { nil: undefined }),
    host: hostname,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    db: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  });
  const text = ({ scheme, user, password, host, port, db }: Parts) => {
    const auth = user !== undefined || password !== undefined ? `${user ?? ''}:${password ?? ''}@` : '';
    return `${scheme}://${auth}${host}${port === undefined ? '' : `:${port}`}${db === undefined ? '' : `/${db}`}`;
  };

  it('should accept a redis:// or rediss:// URL and mean the host, port, database and password ioredis reads', () => {
    fc.assert(
      fc.property(url, (parts) => {
        const raw = text(parts);
        expect(parseRedisUrl(raw)).toBe(raw);
        const options = parseURL(raw);
        if (parts.host.startsWith('[')) expect(isIPv6(options.host as string)).toBe(true);
        else expect(options.host).toBe(parts.host);
        if (parts.port !== undefined) expect(Number(options.port)).toBe(parts.port);
        if (parts.db !== undefined) expect(Number(options.db)).toBe(parts.db);
        if (parts.password !== undefined) expect(options.password).toBe(parts.password);
      }),
      { numRuns: 500 },
    );
  });

  it('should either accept a value ioredis connects to a host or socket with, or throw naming REDIS_URL without the password', () => {
    const mangled = fc
      .tuple(url, fc.nat(), fc.string({ minLength: 1, maxLength: 3 }))
      .map(([parts, at, noise]) => {
        const raw = text(parts);
        const index = at % (raw.length + 1);
        return { raw: raw.slice(0, index) + noise + raw.slice(index), password: parts.password };
      });
    fc.assert(
      fc.property(
        fc.oneof(
          mangled,
          fc.string({ maxLength: 40 }).map((raw) => ({ raw, password: undefined })),
        ),
        ({ raw, password }) => {
          let accepted: string | undefined;
          try {
            accepted = parseRedisUrl(raw);
          } catch (error) {
            expect(error).toBeInstanceOf(SettingsError);
            expect((error as SettingsError).setting).toBe('REDIS_URL');
            if (password !== undefined) expect((error as Error).message).not.toContain(password);
            return;
          }
          if (accepted === undefined) return expect(raw.trim()).toBe('');
          const options = parseURL(accepted);
          if (accepted.startsWith('/')) return expect(options.path).toBeTruthy();
          expect(typeof options.host === 'string' && options.host.length > 0).toBe(true);
          expect(options.path).toBeUndefined();
          const port = options.port === undefined ? 6379 : Number(options.port);
          expect(Number.isInteger(port) && port >= 1 && port <= 65535).toBe(true);
          if (options.db !== undefined) expect(String(options.db)).toMatch(/^\d+$/);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('should take a Unix socket path as ioredis does, and nothing else without a scheme', () => {
    expect(parseRedisUrl('/var/run/redis/redis.sock')).toBe('/var/run/redis/redis.sock');
    expect(parseRedisUrl(undefined)).toBeUndefined();
    for (const raw of [
      'notaurl',
      'redis:6379',
      'http://127.0.0.1:6379',
      '//redis:6379',
      'redis+sentinel://s:26379',
    ])
      expect(() => parseRedisUrl(raw)).toThrow(/^Invalid setting REDIS_URL: /);
  });
});

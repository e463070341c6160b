import { describeSetting, isHost, SettingsError } from './env-readers';

// REDIS_URL: what every Redis connection is made with (src/infra/redis/redis-connection.ts, ioredis).
// ioredis takes almost any string: "notaurl" is a host name to it and "http://host:6379" the path of
// a Unix socket, both failing only when connecting, in a loop of errors after boot; a bad port or
// percent-escape threw from Nest's startup with no setting's name. Accepted here: redis:// or
// rediss:// (TLS) with a host, a port 1..65535 (default 6379), a user and password (percent-encoded),
// a database number as the path and ioredis options as the query; or the path of a Unix socket
// (/…), which ioredis connects to as it is. The value may hold a password: a refusal never quotes it.
const FORM =
  'must be redis://[user:password@]host[:port][/db] or rediss://… (TLS), or the path of a Unix socket';

export function parseRedisUrl(raw: string | undefined, name = 'REDIS_URL'): string | undefined {
  describeSetting({ name, kind: 'url', range: 'redis:// or rediss:// URL, or a socket path' });
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = raw.trim();
  if (value.startsWith('/') && !value.startsWith('//')) return value;
  // lower case: ioredis turns TLS on for rediss:// only as written
  if (!/^rediss?:\/\//.test(value)) throw new SettingsError(name, FORM);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new SettingsError(
      name,
      `${FORM}; it is not a URL (check its port, and that its user and password are percent-encoded)`,
    );
  }
  // ioredis decodes them with decodeURIComponent, which throws on a stray %
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    throw new SettingsError(name, 'its user or password has a % that starts no escape (write % as %25)');
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (hostname === '' || !isHost(hostname)) throw new SettingsError(name, `${FORM}; its host is not one`);
  if (parsed.port === '0') throw new SettingsError(name, 'its port must be between 1 and 65535');
  // the path is the database number; ioredis would send SELECT NaN for anything else
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d{1,9}$/.test(parsed.pathname))
    throw new SettingsError(name, 'its path must be a database number (redis://host:6379/0)');
  return value;
}

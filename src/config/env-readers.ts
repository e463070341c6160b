import { isIP } from 'node:net';
import { parseDuration } from './duration';

// Small typed readers over the environment, shared by every settings section.
export class SettingsError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
  ) {
    super(`Invalid setting ${setting}: ${problem}`);
  }
}

export type Env = Record<string, string | undefined>;

// What each reader learns about a setting as loadSettings reads it: the operator's guide's table
// is made from these (src/docs/settings-table.ts), so its defaults and ranges are the code's.
export interface SettingSpec {
  name: string;
  kind: 'text' | 'required' | 'integer' | 'duration' | 'list' | 'url' | 'choice' | 'key' | 'host';
  fallback?: string;
  range?: string;
}

const specs = new Map<string, SettingSpec>();

export function describeSetting(spec: SettingSpec): void {
  const known = specs.get(spec.name);
  // a plain text read says least; required stays required whatever parses the value next
  const kind =
    known?.kind === 'required' ? 'required' : known && known.kind !== 'text' ? known.kind : spec.kind;
  specs.set(spec.name, {
    name: spec.name,
    kind,
    // an empty fallback is no default
    fallback: known?.fallback ?? (spec.fallback || undefined),
    range: known?.range ?? spec.range,
  });
}

export function describedSettings(): SettingSpec[] {
  return [...specs.values()];
}

export function text(env: Env, name: string, fallback?: string): string | undefined {
  describeSetting({ name, kind: 'text', fallback });
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

export function required(env: Env, name: string): string {
  describeSetting({ name, kind: 'required' });
  const value = text(env, name);
  if (value === undefined) throw new SettingsError(name, 'is required');
  return value;
}

export function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  describeSetting({
    name,
    kind: 'integer',
    fallback: String(fallback),
    range: max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `${min}..${max}`,
  });
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new SettingsError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new SettingsError(name, `must be between ${min} and ${max}`);
  return value;
}

// Bounds for delays given to setTimeout/setInterval/socket.setTimeout: 0 means "at once, again and
// again" (or "never" for a socket), and past 2^31-1 ms (about 24.8d) Node warns and fires after 1 ms
export const TIMER_MIN_MS = 1;
export const TIMER_MAX_MS = 24 * 86_400_000;

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

function formatMs(ms: number): string {
  const unit = UNITS.find(([, size]) => ms > 0 && ms % size === 0);
  return unit ? `${ms / unit[1]}${unit[0]}` : `${ms}ms`;
}

export function duration(
  env: Env,
  name: string,
  fallback: string,
  minMs = 0,
  maxMs = Number.MAX_SAFE_INTEGER,
): number {
  const bounded =
    maxMs === Number.MAX_SAFE_INTEGER ? `≥ ${formatMs(minMs)}` : `${formatMs(minMs)}..${formatMs(maxMs)}`;
  describeSetting({
    name,
    kind: 'duration',
    fallback,
    range: `duration ${minMs === 0 && maxMs === Number.MAX_SAFE_INTEGER ? '≥ 0' : bounded}`,
  });
  const raw = text(env, name, fallback) as string;
  const value = parseDuration(raw);
  if (value === undefined)
    throw new SettingsError(name, `must be a duration such as 60s, 15m or 500ms, got "${raw}"`);
  if (value < minMs || value > maxMs)
    throw new SettingsError(name, `must be between ${formatMs(minMs)} and ${formatMs(maxMs)}, got "${raw}"`);
  return value;
}

export function list(env: Env, name: string, fallback: string): string[] {
  describeSetting({ name, kind: 'list', fallback: fallback || undefined, range: 'comma list' });
  return (text(env, name, fallback) as string)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export function encryptionKey(name: string, raw: string): Buffer {
  describeSetting({ name, kind: 'key', range: '32 bytes, base64' });
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== raw.replace(/=+$/, '')) {
    throw new SettingsError(name, 'must be 32 bytes encoded as base64 (openssl rand -base64 32)');
  }
  return key;
}

export function url(env: Env, name: string, fallback: string): string {
  describeSetting({ name, kind: 'url', fallback, range: 'http(s) URL' });
  const raw = text(env, name, fallback) as string;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new SettingsError(name, `must be an http(s) URL, got "${raw}"`);
  }
  // the only reader is PUBLIC_BASE_URL, a base for links people open
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new SettingsError(name, `must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

// A host name as resolvers take it: dot-separated labels of letters, digits, - and _ (container
// names have them), at most 63 characters each and 253 in all, an optional final dot
const HOST_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

export function isHost(value: string): boolean {
  return isIP(value) !== 0 || HOST_NAME.test(value);
}

// An address to listen on or connect to (HOST, CLAMAV_HOST): an IP address or a host name. Anything
// else failed only when used, after boot, with getaddrinfo's error and no setting's name.
export function host(env: Env, name: string, fallback?: string): string | undefined {
  describeSetting({ name, kind: 'host', fallback, range: 'IP address or host name' });
  const raw = text(env, name, fallback);
  if (raw === undefined || isHost(raw)) return raw;
  const bracketed = /^\[(.*)\]$/.exec(raw);
  if (bracketed && isIP(bracketed[1]) === 6)
    throw new SettingsError(
      name,
      `must be an IP address or a host name; write an IPv6 address without brackets`,
    );
  throw new SettingsError(
    name,
    `must be an IP address or a host name (no scheme, port or path), got "${raw}"`,
  );
}

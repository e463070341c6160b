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

export function text(env: Env, name: string, fallback?: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

export function required(env: Env, name: string): string {
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
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new SettingsError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new SettingsError(name, `must be between ${min} and ${max}`);
  return value;
}

export function duration(env: Env, name: string, fallback: string): number {
  const raw = text(env, name, fallback) as string;
  const value = parseDuration(raw);
  if (value === undefined)
    throw new SettingsError(name, `must be a duration such as 60s, 15m or 500ms, got "${raw}"`);
  return value;
}

export function list(env: Env, name: string, fallback: string): string[] {
  return (text(env, name, fallback) as string)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export function encryptionKey(name: string, raw: string): Buffer {
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== raw.replace(/=+$/, '')) {
    throw new SettingsError(name, 'must be 32 bytes encoded as base64 (openssl rand -base64 32)');
  }
  return key;
}

export function url(env: Env, name: string, fallback: string): string {
  const raw = text(env, name, fallback) as string;
  try {
    new URL(raw);
  } catch {
    throw new SettingsError(name, `must be a URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

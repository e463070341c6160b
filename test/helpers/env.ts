import { randomBytes } from 'node:crypto';
import { loadSettings, type Settings } from '../../src/config/settings';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const TEST_ENCRYPTION_KEY = randomBytes(32).toString('base64');

// MongoDB wire endpoint started by scripts/test.sh (FerretDB); each suite gets its own database.
export function mongoUri(database = `t_${randomBytes(4).toString('hex')}`): string {
  const base = process.env.TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27099';
  return `${base.replace(/\/+$/, '')}/${database}`;
}

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    MONGODB_URI: mongoUri(),
    JWT_SECRET: TEST_JWT_SECRET,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ALLOWED_ORIGINS: 'http://allowed.example',
    LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 5 }]),
    ...overrides,
  };
}

export function testSettings(overrides: Record<string, string> = {}): Settings {
  return loadSettings(testEnv(overrides));
}

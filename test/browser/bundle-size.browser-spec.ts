import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

// The chat runs in phone webviews: its JavaScript stays under 60 KB gzipped (issue #6).
const BUDGET_BYTES = 60 * 1024;
const ASSETS = join(__dirname, '..', '..', 'client', 'dist', 'chat', 'assets');

describe('chat client bundle', () => {
  it('should keep the chat JavaScript under 60 KB gzipped', () => {
    const files = readdirSync(ASSETS).filter((name) => name.endsWith('.js'));
    expect(files.length).toBeGreaterThan(0);
    const gzipped = files.reduce(
      (sum, name) => sum + gzipSync(readFileSync(join(ASSETS, name)), { level: 9 }).length,
      0,
    );
    console.log(
      `chat client JS: ${(gzipped / 1024).toFixed(1)} KB gzipped (budget ${BUDGET_BYTES / 1024} KB)`,
    );
    expect(gzipped).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});

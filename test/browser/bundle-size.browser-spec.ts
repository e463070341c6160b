import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

// The chat runs in phone webviews: what its first load fetches stays under 60 KB of gzipped
// JavaScript (issue #6). Chunks loaded on demand (the code highlighter, issue 15) are not part of it.
const BUDGET_BYTES = 60 * 1024;
const DIST = join(__dirname, '..', '..', 'client', 'dist', 'chat');
const ASSETS = join(DIST, 'assets');
const gzipped = (name: string) => gzipSync(readFileSync(join(ASSETS, name)), { level: 9 }).length;

describe('chat client bundle', () => {
  it('should keep the JavaScript of the first load under 60 KB gzipped', () => {
    const html = readFileSync(join(DIST, 'index.html'), 'utf8');
    // the entry script and the chunks it preloads
    const firstLoad = [...html.matchAll(/(?:src|href)="[^"]*assets\/([^"]+\.js)"/g)].map((match) => match[1]);
    expect(firstLoad.length).toBeGreaterThan(0);
    const size = firstLoad.reduce((sum, name) => sum + gzipped(name), 0);
    const lazy = readdirSync(ASSETS).filter((name) => name.endsWith('.js') && !firstLoad.includes(name));
    console.log(
      `chat client JS: ${(size / 1024).toFixed(1)} KB gzipped on first load (budget ${BUDGET_BYTES / 1024} KB); ` +
        `loaded on demand: ${lazy.map((name) => `${name} ${(gzipped(name) / 1024).toFixed(1)} KB`).join(', ')}`,
    );
    expect(size).toBeLessThanOrEqual(BUDGET_BYTES);
    // the highlighter is one of the chunks loaded on demand, not of the first load
    expect(lazy.some((name) => readFileSync(join(ASSETS, name), 'utf8').includes('highlightElement'))).toBe(
      true,
    );
  });
});

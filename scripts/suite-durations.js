// Writes test/suite-durations.json (the sequencer's timings for a clone Jest never ran in) from the
// timings Jest kept of this checkout's last full run (test/sequencer.js). Run it after `npm test`.
const { existsSync, readdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');
const { tmpdir } = require('node:os');

const root = join(__dirname, '..');
// Jest's default cache directory (jest.config.js sets none)
const cacheDirectory = join(tmpdir(), `jest_${process.getuid().toString(36)}`);
const durations = {};
for (const name of existsSync(cacheDirectory) ? readdirSync(cacheDirectory) : []) {
  if (!name.startsWith('perf-cache-')) continue;
  const timings = JSON.parse(readFileSync(join(cacheDirectory, name), 'utf8'));
  for (const [path, [, milliseconds]] of Object.entries(timings)) {
    const suite = relative(root, path);
    if (!suite.startsWith('..') && existsSync(path)) durations[suite] = Math.round(milliseconds / 100) * 100;
  }
}
const sorted = Object.fromEntries(Object.entries(durations).sort(([a], [b]) => (a < b ? -1 : 1)));
writeFileSync(join(root, 'test/suite-durations.json'), `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`${Object.keys(sorted).length} suites' timings written to test/suite-durations.json`);

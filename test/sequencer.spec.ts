import { join } from 'node:path';
import durations from './suite-durations.json';

// test/sequencer.js: on a clone Jest never ran in (no timings of its own), the suites it has
// timings for in test/suite-durations.json run longest first, after those it has none for.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KnownDurationsFirst = require('./sequencer') as new () => {
  sort(tests: FakeTest[]): FakeTest[];
};

interface FakeTest {
  path: string;
  duration?: number;
  context: { config: { rootDir: string; cache: boolean }; hasteFS: { getSize(path: string): number } };
}

describe('KnownDurationsFirst', () => {
  const root = join(__dirname, '..');
  // no cache: Jest's own timings are absent, as on a fresh clone
  const suite = (path: string): FakeTest => ({
    path: join(root, path),
    context: { config: { rootDir: root, cache: false }, hasteFS: { getSize: () => 1 } },
  });
  const known = durations as Record<string, number>;
  const byDuration = Object.keys(known).sort((a, b) => known[b] - known[a]);

  it('should run the suites of test/suite-durations.json longest first, with Jest holding no timings', () => {
    const longest = byDuration.slice(0, 3);
    const short = byDuration.slice(-3);
    const sorted = new KnownDurationsFirst().sort([...short, ...longest].map(suite)).map((test) => test.path);
    // the three longest first, in order; the short ones (ties among them) after
    expect(sorted.slice(0, 3)).toEqual(longest.map((path) => join(root, path)));
    expect(sorted.slice(3).sort()).toEqual(short.map((path) => join(root, path)).sort());
  });

  it('should run a suite with no timing anywhere ahead of the timed ones, as Jest does', () => {
    const sorted = new KnownDurationsFirst().sort([suite(byDuration[0]), suite('test/e2e/new.e2e-spec.ts')]);
    expect(sorted[0].path).toBe(join(root, 'test/e2e/new.e2e-spec.ts'));
  });
});

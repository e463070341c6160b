// Projects: unit specs beside the code, integration against FerretDB, e2e against the running app,
// client specs (client/**/*.spec.ts) and the browser suites (test/browser).
const tsJest = ['ts-jest', { diagnostics: false }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  rootDir: '.',
  testTimeout: 30000,
  // four suites at once on two cores: most e2e time is waiting (servers starting, leases and graces
  // running out, faults held). Jest's default there (one worker) ran them end to end: 865 s of Jest
  // alone against 491 s with two; with 316 suites, 783 s with two and 644–716 s with three; with
  // session 44's 366 suites, 847–909 s of Jest with three and 673 s with four (quiet fresh clones)
  maxWorkers: 4,
  // a worker past this after a suite is replaced by a fresh one: each suite's app and modules are
  // left for the collector, but what stays reachable (timers, listeners, the coverage counters) grew
  // each worker to 2.2-2.7 GB by the end of session 41's CI run, and every full collection marks it
  workerIdleMemoryLimit: '1GB',
  // longest suites first, on a fresh clone too (test/sequencer.js)
  testSequencer: '<rootDir>/test/sequencer.js',
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.spec.ts', '!src/main.ts'],
  coverageReporters: ['text-summary', 'lcov'],
  coverageThreshold: { global: { lines: 80 } },
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/fakes/**/*.spec.ts', '<rootDir>/test/chaos/**/*.spec.ts', '<rootDir>/test/sequencer.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'] },
    { ...base, displayName: 'client', testMatch: ['<rootDir>/client/**/*.spec.ts'] },
    // helm/chatbox rendered by a real helm (HELM_BIN from scripts/services/helm.sh)
    { ...base, displayName: 'deploy', testMatch: ['<rootDir>/test/deploy/**/*.spec.ts'] },
    // real chromium against the real server and the built client (npm run build first)
    {
      ...base,
      displayName: 'browser',
      testMatch: ['<rootDir>/test/browser/**/*.browser-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/browser/setup.ts'],
    },
  ],
};

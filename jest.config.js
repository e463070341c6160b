// Projects: unit specs beside the code, integration against FerretDB, e2e against the running app,
// client specs (client/**/*.spec.ts) and the browser suites (test/browser).
const tsJest = ['ts-jest', { diagnostics: false }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  rootDir: '.',
  testTimeout: 30000,
  // two suites at once: most e2e time is waiting (servers starting, leases and graces running out,
  // faults held), which Jest's default on two cores (one worker) ran end to end: 865 s of Jest
  // alone against 491 s with two (992 s and 623 s for the whole `npm test`)
  maxWorkers: 2,
  collectCoverageFrom: ['src/**/*.ts', '!src/**/*.spec.ts', '!src/main.ts'],
  coverageReporters: ['text-summary', 'lcov'],
  coverageThreshold: { global: { lines: 80 } },
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/fakes/**/*.spec.ts', '<rootDir>/test/chaos/**/*.spec.ts'] },
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

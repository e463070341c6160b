// Jest runs the suites it timed in an earlier run longest first, so the long ones do not start late
// and run alone at the end. A fresh clone (CI's) has no timings, and Jest orders it by file size: on
// this 2-core machine heavy-reads (54–114 s) and api-fuzz (83–86 s) then started among the last
// suites. The timings of a full run are kept in test/suite-durations.json and stand in for those
// Jest has not got (refresh them after a full run: `node scripts/suite-durations.js`).
const { dirname, relative } = require('node:path');

const { default: Sequencer } = require(
  require.resolve('@jest/test-sequencer', { paths: [dirname(require.resolve('jest-config'))] }),
);
const durations = require('./suite-durations.json');

class KnownDurationsFirst extends Sequencer {
  time(test) {
    return super.time(test) ?? durations[relative(test.context.config.rootDir, test.path)];
  }
}

module.exports = KnownDurationsFirst;

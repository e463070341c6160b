import fc from 'fast-check';
import { LapseJudge } from './lapse-judge';

const GRACE = 2_000;
const RENEWAL = 500;

// A clock the test moves, and commands that take as long as the test says.
function setup() {
  let now = 1_000_000;
  const judge = new LapseJudge({ graceMs: GRACE, renewalMs: RENEWAL }, () => now);
  const answerAfter = (ms: number) =>
    judge.timed(() => {
      now += ms;
      return Promise.resolve('answered');
    });
  const failAfter = (ms: number) =>
    judge.timed(() => {
      now += ms;
      return Promise.reject(new Error('server selection timed out'));
    });
  const ranOut = (agoMs: number) => new Date(now - agoMs);
  return { judge, answerAfter, failAfter, ranOut, advance: (ms: number) => (now += ms) };
}

describe(LapseJudge.name, () => {
  it('should judge a lease that ran out lapsed once the store has answered promptly for a grace since the start, and one still running not', async () => {
    const { judge, answerAfter, ranOut, advance } = setup();
    // nothing answered yet: no verdict (an instance started as the store came back)
    expect(judge.lapsed(ranOut(1))).toBe(false);
    await answerAfter(20);
    expect(judge.lapsed(ranOut(1))).toBe(false);
    advance(RENEWAL + 2_000);
    await answerAfter(20);
    expect(judge.lapsed(ranOut(1))).toBe(true);
    expect(judge.lapsed(ranOut(-1))).toBe(false);
  });

  it('should judge no lease lapsed after a command failed until the store has answered for a whole grace', async () => {
    const { judge, answerAfter, failAfter, ranOut, advance } = setup();
    await expect(failAfter(10)).rejects.toThrow('server selection');
    expect(judge.lapsed(ranOut(10_000))).toBe(false);
    advance(5_000);
    // still away: nothing answered since
    expect(judge.lapsed(ranOut(10_000))).toBe(false);
    await answerAfter(20);
    advance(GRACE + RENEWAL - 1);
    expect(judge.lapsed(ranOut(10_000))).toBe(false);
    await answerAfter(20);
    advance(1);
    expect(judge.lapsed(ranOut(10_000))).toBe(true);
  });

  it('should count a command slower than a renewal period as the store away until it answered (a frozen store)', async () => {
    const { judge, answerAfter, ranOut, advance } = setup();
    await answerAfter(RENEWAL);
    advance(RENEWAL + 2_000);
    expect(judge.lapsed(ranOut(1))).toBe(true);
    await answerAfter(3_000);
    expect(judge.lapsed(ranOut(1))).toBe(false);
    advance(GRACE + RENEWAL);
    expect(judge.lapsed(ranOut(1))).toBe(true);
  });

  it('should wait a renewal period and the time the store client takes to find the store again when the grace is shorter', async () => {
    let now = 0;
    const judge = new LapseJudge({ graceMs: 1_000, renewalMs: 250 }, () => now);
    await judge.timed(() => {
      now += 5_000;
      return Promise.resolve();
    });
    now += 2_000;
    expect(judge.lapsed(new Date(now - 1))).toBe(false);
    now += 250;
    expect(judge.lapsed(new Date(now - 1))).toBe(true);
  });

  // Any run of commands (prompt, slow, failed) and pauses: a lease that ran out is judged lapsed
  // exactly when the store has answered every command promptly for the settle time (the grace, or a
  // renewal period and the store client's re-discovery when more) since the last failed or slow one
  // ended, or since the first command (the model below, written out)
  it('should judge lapses exactly as its rule says, for any commands and pauses (property)', async () => {
    const settle = Math.max(GRACE, RENEWAL + 2_000);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ answer: fc.integer({ min: 0, max: 2 * RENEWAL }) }),
            fc.record({ fail: fc.integer({ min: 0, max: 3_000 }) }),
            fc.record({ pause: fc.integer({ min: 0, max: 4_000 }) }),
          ),
          { maxLength: 40 },
        ),
        async (steps) => {
          let now = 0;
          const judge = new LapseJudge({ graceMs: GRACE, renewalMs: RENEWAL }, () => now);
          let since: number | undefined;
          for (const step of steps) {
            if ('pause' in step) now += step.pause;
            else if ('answer' in step) {
              const started = now;
              await judge.timed(() => {
                now += step.answer;
                return Promise.resolve();
              });
              if (now - started > RENEWAL) since = now;
              else since ??= now;
            } else {
              await judge
                .timed(() => {
                  now += step.fail;
                  return Promise.reject(new Error('down'));
                })
                .catch(() => undefined);
              since = undefined;
            }
            const expected = since !== undefined && now - since >= settle;
            expect(judge.lapsed(new Date(now - 1))).toBe(expected);
            // a lease still running is never lapsed
            expect(judge.lapsed(new Date(now))).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

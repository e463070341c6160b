import fc from 'fast-check';
import { RecentAnswer } from './recent-answer';

describe(RecentAnswer.name, () => {
  it('should ask once per window, however many callers and whatever the answer', async () => {
    await fc.assert(
      fc.asyncProperty(
        // callers' times (ms from the start), and whether each question fails
        fc
          .array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 60 })
          .map((times) => times.sort((a, b) => a - b)),
        fc.boolean(),
        async (times, failing) => {
          let now = 0;
          const asked: number[] = [];
          const recent = new RecentAnswer(
            () => {
              asked.push(now);
              return failing ? Promise.reject(new Error('down')) : Promise.resolve(asked.length);
            },
            1_000,
            () => now,
          );
          const answers: Array<number | string> = [];
          for (const time of times) {
            now = time;
            answers.push(await recent.get().catch((error: Error) => error.message));
          }
          // a question at the first call, then at the first call 1 s or more after the last question
          const expected: number[] = [];
          for (const time of times)
            if (expected.length === 0 || time - expected.at(-1)! >= 1_000) expected.push(time);
          expect(asked).toEqual(expected);
          if (failing) expect(new Set(answers)).toEqual(times.length > 0 ? new Set(['down']) : new Set());
          else
            answers.forEach((answer, index) =>
              expect(answer).toBe(expected.filter((time) => time <= times[index]).length),
            );
        },
      ),
    );
  });
});

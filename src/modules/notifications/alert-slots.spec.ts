import fc from 'fast-check';
import { MemorySlots, openSlots, takeSlot } from './alert-slots';

describe('alert slots', () => {
  it('should offer the free slots lowest first, each with the claim it follows, none when all are taken', () => {
    const claims = [
      { slot: 1, until: 500 },
      { slot: 1, until: 1500 },
      { slot: 2, until: 900 },
    ];
    expect([...openSlots(claims, 3, 1000)]).toEqual([
      { slot: 2, after: 900 },
      { slot: 3, after: 0 },
    ]);
    expect([...openSlots(claims, 1, 1000)]).toEqual([]);
    expect([...openSlots([...claims, { slot: 2, until: 2000 }, { slot: 3, until: 1001 }], 3, 1000)]).toEqual(
      [],
    );
  });

  // the limit's promise: at most `size` within any span of the window, and an event is refused only
  // when `size` were allowed within the window before it
  it('should allow at most size events within any span of the window, and refuse only then', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 40 }),
        async (size, windowMs, gaps) => {
          const store = new MemorySlots();
          const allowed: number[] = [];
          let at = 1_000_000;
          for (const gap of gaps) {
            at += gap;
            const recent = allowed.filter((time) => time > at - windowMs).length;
            const took = await takeSlot(store, 'g', size, windowMs, at);
            expect(took).toBe(recent < size);
            if (took) allowed.push(at);
          }
        },
      ),
    );
  });

  // instances racing: every claim of one moment reads the same claims first
  it('should allow size of a burst when all of it reads the slots before any claim', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 20 }),
        async (size, burst) => {
          const store = new MemorySlots();
          const results = await Promise.all(
            Array.from({ length: burst }, () => takeSlot(store, 'g', size, 1000, 5000)),
          );
          expect(results.filter(Boolean)).toHaveLength(Math.min(size, burst));
        },
      ),
    );
  });
});

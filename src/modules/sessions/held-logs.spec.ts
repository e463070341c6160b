import fc from 'fast-check';
import { HeldLogs } from './held-logs';
import type { MessageRecord, WrittenSession } from './session.types';

function log(id: string, sizes: number[]): WrittenSession {
  return {
    id,
    user_id: 'u',
    name: 'n',
    model_id: 'm',
    seq: sizes.length,
    assisting_admin_id: null,
    last_activity: new Date(0),
    messages: sizes.map((size, index) => ({ seq: index + 1, content: 'x'.repeat(size) }) as MessageRecord),
  };
}

describe('HeldLogs', () => {
  it('should let the least recently written go past the byte bound, and hold none past it alone', () => {
    const held = new HeldLogs(10, 3_000);
    held.set('a', log('a', [1_000]));
    held.set('b', log('b', [1_000]));
    held.set('a', log('a', [1_000, 100]));
    held.set('c', log('c', [1_000]));
    // a (1,500 with its records) + b (1,200) + c (1,200) is past 3,000: b, written least recently, goes
    expect([held.get('a')?.seq, held.get('b'), held.get('c')?.seq]).toEqual([2, undefined, 1]);
    expect(held.bytes).toBe(2_700);
    held.set('d', log('d', [5_000]));
    expect(held.get('d')).toBeUndefined();
    expect(held.size).toBe(2);
  });

  // a model: the newest logs that fit both bounds, in write order
  it('should hold exactly the newest logs within both bounds, and count their bytes', () => {
    const step = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      sizes: fc.array(fc.nat(2_000), { maxLength: 4 }),
      remove: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 6_000 }),
        fc.array(step),
        (count, bytes, steps) => {
          const held = new HeldLogs(count, bytes);
          let model: Array<{ id: string; bytes: number; seq: number }> = [];
          for (const { id, sizes, remove } of steps) {
            model = model.filter((entry) => entry.id !== id);
            if (remove) held.delete(id);
            else {
              held.set(id, log(id, sizes));
              const size = sizes.reduce((sum, n) => sum + n + 200, 0);
              if (size <= bytes) model.push({ id, bytes: size, seq: sizes.length });
              while (model.length > count || model.reduce((sum, entry) => sum + entry.bytes, 0) > bytes)
                model.shift();
            }
            expect(held.size).toBe(model.length);
            expect(held.bytes).toBe(model.reduce((sum, entry) => sum + entry.bytes, 0));
            for (const entry of model) expect(held.get(entry.id)?.seq).toBe(entry.seq);
          }
        },
      ),
    );
  });
});

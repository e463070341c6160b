import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { newId } from './ids';

// a full GC from inside the test (jest runs without --expose-gc)
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

// heap bytes per id while `count` ids made by `make` are kept
function heapPerId(make: () => string, count = 20_000): number {
  collect();
  collect();
  const before = process.memoryUsage().heapUsed;
  const kept = Array.from({ length: count }, make);
  collect();
  collect();
  const grown = process.memoryUsage().heapUsed - before;
  expect(kept.length).toBe(count);
  return grown / count;
}

describe('newId', () => {
  it('gives version 4 UUIDs, each different', () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  // what it is for: a kept id holds its 36 characters flat (~70 bytes with the array's slot), not
  // the chain of concatenated strings randomUUID() leaves (~490)
  it('should keep an id flat: a fraction of the heap a randomUUID() text holds', () => {
    const flat = heapPerId(newId);
    const chained = heapPerId(randomUUID);
    expect(flat).toBeLessThan(150);
    expect(chained).toBeGreaterThan(3 * flat);
  });
});

import fc from 'fast-check';
import { DUPLICATE_KEY, isDuplicateKey, upsertRetried } from './store-errors';

describe('store errors', () => {
  it('should know a duplicate key by its code alone, whatever else is thrown', () => {
    fc.assert(
      fc.property(fc.anything(), (thrown) => {
        const expected =
          typeof thrown === 'object' &&
          thrown !== null &&
          (thrown as { code?: unknown }).code === DUPLICATE_KEY;
        expect(isDuplicateKey(thrown)).toBe(expected);
      }),
    );
    expect(isDuplicateKey(Object.assign(new Error('E11000'), { code: 11000 }))).toBe(true);
    expect(isDuplicateKey({ code: '11000' })).toBe(false);
  });

  it('should run an upsert once more when it lost the insert race, and pass any other error on', async () => {
    const duplicate = Object.assign(new Error('E11000 duplicate key'), { code: DUPLICATE_KEY });
    const results = ['second'];
    let calls = 0;
    await expect(
      upsertRetried(async () => {
        calls++;
        if (calls === 1) throw duplicate;
        return results[0];
      }),
    ).resolves.toBe('second');
    expect(calls).toBe(2);
    calls = 0;
    const other = Object.assign(new Error('network'), { code: 6 });
    await expect(
      upsertRetried(async () => {
        calls++;
        throw other;
      }),
    ).rejects.toBe(other);
    expect(calls).toBe(1);
  });
});

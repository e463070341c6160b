// The store's errors that the repositories answer (docs/protocol.md, "The store").

// MongoDB's duplicate-key error code (E11000): an insert whose `_id` (or unique key) is taken
export const DUPLICATE_KEY = 11000;

export function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === DUPLICATE_KEY;
}

// An upsert of a document that may not exist yet, once more when it lost the race to insert it: two
// upserts of one missing document both insert it (on MongoDB too), the loser fails on the unique
// `_id`, and its update then applies to the winner's document.
export async function upsertRetried<T>(upsert: () => Promise<T>): Promise<T> {
  try {
    return await upsert();
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    return upsert();
  }
}

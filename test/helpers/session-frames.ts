import type { Frame, TestClient } from './ws-client';

// the seqs of stored events a client received, in arrival order (deltas and ephemeral frames aside)
export function storedSeqs(client: TestClient): number[] {
  return client.frames
    .filter(
      (frame: Frame) => frame.id !== undefined && frame.type !== 'ack' && frame.metadata?.done !== false,
    )
    .filter((frame: Frame) => frame.type !== 'error' && typeof frame.seq === 'number')
    .map((frame) => frame.seq as number);
}

export function ackedSeqs(client: TestClient): number[] {
  return client.frames
    .filter((frame) => frame.type === 'ack' && frame.id)
    .map((frame) => frame.seq as number);
}

// every seq from..to exactly once: its own messages as acks, the rest as stored frames, in order
export function expectEveryEventOnce(client: TestClient, from: number, to: number): void {
  const stored = storedSeqs(client).filter((seq) => seq >= from && seq <= to);
  expect(stored).toEqual([...stored].sort((a, b) => a - b));
  expect(new Set(stored).size).toBe(stored.length);
  const all = [...stored, ...ackedSeqs(client).filter((seq) => seq >= from && seq <= to)].sort(
    (a, b) => a - b,
  );
  expect(all).toEqual(Array.from({ length: to - from + 1 }, (_, index) => from + index));
}

import type { RoomChangesRepository } from './room-changes.repository';

// The change numbers one change takes (docs/protocol.md, "Change log"): `settle` runs the write with
// `take` (called when the write is to happen: a number from the room's log, stored with it) and
// keeps the last number taken when `applied` says the change happened; every other number taken
// (a write that changed nothing, a retried insert, a failure) is abandoned, so readers pass over it.
export function changeNumbers(
  changes: RoomChangesRepository,
  roomId: string,
  messageId: string,
  messageAt: Date,
  reactionId?: string,
) {
  const taken: number[] = [];
  const take = async (): Promise<number> => {
    const n = await changes.take(roomId, messageId, messageAt, reactionId);
    taken.push(n);
    return n;
  };
  const abandon = (keep?: number) =>
    Promise.all(taken.filter((n) => n !== keep).map((n) => changes.abandon(roomId, n))).catch(
      () => undefined,
    );
  return {
    settle: async <T>(
      write: (take: () => Promise<number>) => Promise<T>,
      applied: (result: T) => boolean,
    ): Promise<{ result: T; change?: number }> => {
      let result: T;
      try {
        result = await write(take);
      } catch (error) {
        await abandon();
        throw error;
      }
      const change = applied(result) ? taken.at(-1) : undefined;
      await abandon(change);
      return { result, change };
    },
  };
}

// a change frame's number, when the change took one
export function changeOf(change: number | undefined): { change?: number } {
  return change !== undefined ? { change } : {};
}

// The public rooms' part of every room list, shared by the instance's readers for at most `maxAgeMs`
// (ROOM_LIST_CACHE; docs/protocol.md, "Room list"). Every room list carries the same newest public
// rooms; reading them costs the store a page of room documents per list, the largest part of a room
// list's work. The rest of a list (the user's own rooms, their unread counts) is always read fresh.
//
// - A public room created or renamed anywhere invalidates every instance's copy through the bus
//   (RoomHub.publicRoomsChanged); while the bus is away a copy is at most `maxAgeMs` old.
// - One read at a time: readers arriving while it runs share it.
// - A read that started before an invalidation is returned to its readers but never kept: it may
//   predate the change.
export class PublicRoomList<T> {
  private kept?: { value: T; at: number };
  private reading?: { promise: Promise<T>; generation: number };
  private generation = 0;

  constructor(
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(read: () => Promise<T>): Promise<T> {
    if (this.maxAgeMs === 0) return read();
    const kept = this.kept;
    if (kept && this.now() - kept.at < this.maxAgeMs) return Promise.resolve(kept.value);
    if (this.reading?.generation === this.generation) return this.reading.promise;
    const generation = this.generation;
    const at = this.now();
    const promise = read().then((value) => {
      if (generation === this.generation) this.kept = { value, at };
      return value;
    });
    const reading = { promise, generation };
    this.reading = reading;
    const done = (): void => {
      if (this.reading === reading) this.reading = undefined;
    };
    promise.then(done, done);
    return promise;
  }

  invalidate(): void {
    this.generation++;
    this.kept = undefined;
  }
}

import type { Connection } from './connection';
import { isStoredFrame } from '../../protocol/frames';
import { SeqPrefix } from '../../protocol/seq-prefix';

export { isStoredFrame };

interface Position<F> {
  // the highest seq this socket has, with every seq before it (none before its first stored event),
  // and what arrived early (another instance's event overtook one still on its way); null = seen
  // elsewhere. The same prefix keeps the chat client's resume point for a room.
  prefix?: SeqPrefix<F | null>;
  timer?: NodeJS.Timeout;
  syncing?: boolean;
  // database reads failed in a row while a gap was open
  failures: number;
  // changes of a held event (a room message's edit or delete) that came while it was held, by its
  // seq: they go out right after it
  after?: Map<number, F[]>;
}

// a gap is read again this many times (gapMs, 2×, 4×, … apart) while the database is away, before
// what is held goes out past it (about 8 s with the default gapMs)
const GAP_READS = 5;

export interface StoredSource<F> {
  fetchAfter(sessionId: string, seq: number): Promise<F[]>;
}

// Gives each socket the session's stored events exactly once and in seq order. Events written by two
// instances can cross on the bus; the later one waits here until the gap fills, or for `gapMs`, after
// which the missing events are read from the database (read again, further apart each time, while
// the database is away; only after GAP_READS failures does what is held go out past the gap).
// The AI chat's hub orders ServerMessage frames (isStoredFrame); a room's hub its room frames.
export class SeqOrder<F extends object> {
  private readonly positions = new WeakMap<Connection, Position<F>>();

  constructor(
    private readonly write: (connection: Connection, frame: F) => void,
    private readonly source: StoredSource<F>,
    // which frames are stored events with a seq of their own
    private readonly isStored: (frame: F) => frame is F & { seq: number },
    private readonly gapMs = 250,
    // the seq of the stored event a frame changes (a room message's edit or delete), if any
    private readonly changes: (frame: F) => number | undefined = () => undefined,
  ) {}

  // The socket stands at `seq` from now on. `prefix`: the caller's own object to keep the socket's
  // place in (restarted at `seq`), which stays the socket's until the next reset or forget: the
  // caller may take the very next seq through it itself (takeNext, as `accept` does first) without
  // a lookup per frame (RoomHub's fan-out), and sends everything else here.
  reset(connection: Connection, seq?: number, prefix?: SeqPrefix<F | null>): void {
    clearTimeout(this.positions.get(connection)?.timer);
    if (seq !== undefined && prefix) prefix.restart(seq);
    this.positions.set(connection, {
      prefix: seq === undefined ? undefined : (prefix ?? new SeqPrefix(seq)),
      failures: 0,
    });
  }

  forget(connection: Connection): void {
    clearTimeout(this.positions.get(connection)?.timer);
    this.positions.delete(connection);
  }

  seqOf(connection: Connection): number | undefined {
    return this.positions.get(connection)?.prefix?.point;
  }

  deliver(connection: Connection, frame: F): void {
    if (!this.isStored(frame)) {
      // a change of an event held here goes out after it: the client drops a change of an event it
      // does not hold, and the event would then show as it was before
      const changed = this.changes(frame);
      const position = changed !== undefined ? this.positions.get(connection) : undefined;
      if (changed !== undefined && position?.prefix?.heldAt(changed)) {
        position.after ??= new Map();
        position.after.set(changed, [...(position.after.get(changed) ?? []), frame]);
        return;
      }
      this.write(connection, frame);
      return;
    }
    this.accept(connection, frame.seq, frame);
  }

  // The socket has this event another way (the ack of its own message).
  skip(connection: Connection, frame: F): void {
    if (this.isStored(frame)) this.accept(connection, frame.seq, null);
  }

  // Reads every stored event after the socket's position and delivers what it lacks.
  async catchUp(connection: Connection): Promise<void> {
    const position = this.positions.get(connection);
    const prefix = position?.prefix;
    if (!position || !prefix || position.syncing || connection.pending) return;
    position.syncing = true;
    let frames: F[] = [];
    let read = false;
    try {
      frames = await this.source.fetchAfter(connection.sessionId, prefix.point);
      read = true;
    } catch {
      // the database is away too: read again a little later while events are held
    } finally {
      position.syncing = false;
    }
    if (this.positions.get(connection) !== position) return;
    if (!read && prefix.heldCount > 0 && ++position.failures < GAP_READS) {
      clearTimeout(position.timer);
      position.timer = setTimeout(
        () => {
          position.timer = undefined;
          void this.catchUp(connection);
        },
        this.gapMs * 2 ** position.failures,
      );
      position.timer.unref();
      return;
    }
    // read, or still away after every retry: what is held goes out in order (past the gap, which
    // the client then sees in seq and fills on its next resume)
    position.failures = 0;
    for (const frame of frames)
      if (this.isStored(frame)) this.writeAll(connection, prefix.add(frame.seq, frame), position);
    // a gap the database could not fill: the rest goes out in order rather than held forever
    this.writeAll(connection, prefix.skipThrough(prefix.highest), position);
    this.settle(position, prefix);
  }

  private accept(connection: Connection, seq: number, frame: F | null): void {
    let position = this.positions.get(connection);
    if (!position) {
      position = { failures: 0 };
      this.positions.set(connection, position);
    }
    const prefix = position.prefix;
    if (!prefix) {
      position.prefix = new SeqPrefix(seq);
      if (frame) this.write(connection, frame);
      return;
    }
    if (prefix.takeNext(seq)) {
      if (frame) this.write(connection, frame);
      return;
    }
    if (prefix.has(seq)) return;
    this.writeAll(connection, prefix.add(seq, frame), position);
    this.settle(position, prefix);
    if (prefix.heldCount > 0 && !position.timer) {
      position.timer = setTimeout(() => {
        position.timer = undefined;
        void this.catchUp(connection);
      }, this.gapMs);
      position.timer.unref();
    }
  }

  private writeAll(connection: Connection, frames: Array<F | null>, position: Position<F>): void {
    for (const frame of frames) {
      if (!frame) continue;
      this.write(connection, frame);
      if (!position.after || !this.isStored(frame)) continue;
      for (const change of position.after.get(frame.seq) ?? []) this.write(connection, change);
      position.after.delete(frame.seq);
    }
  }

  // Nothing held any more: no gap to watch.
  private settle(position: Position<F>, prefix: SeqPrefix<F | null>): void {
    if (prefix.heldCount > 0) return;
    clearTimeout(position.timer);
    position.timer = undefined;
    position.failures = 0;
  }
}

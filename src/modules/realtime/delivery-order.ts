import type { Connection } from './connection';
import { isStoredFrame } from '../../protocol/frames';

export { isStoredFrame };

interface Position<F> {
  // highest seq this socket has, with every seq before it
  seq?: number;
  // arrived early (another instance's event overtook one still on its way); null = seen elsewhere
  held: Map<number, F | null>;
  timer?: NodeJS.Timeout;
  syncing?: boolean;
}

export interface StoredSource<F> {
  fetchAfter(sessionId: string, seq: number): Promise<F[]>;
}

// Gives each socket the session's stored events exactly once and in seq order. Events written by two
// instances can cross on the bus; the later one waits here until the gap fills, or for `gapMs`, after
// which the missing events are read from the database.
// The AI chat's hub orders ServerMessage frames (isStoredFrame); a room's hub its room frames.
export class SeqOrder<F extends object> {
  private readonly positions = new WeakMap<Connection, Position<F>>();

  constructor(
    private readonly write: (connection: Connection, frame: F) => void,
    private readonly source: StoredSource<F>,
    // which frames are stored events with a seq of their own
    private readonly isStored: (frame: F) => frame is F & { seq: number },
    private readonly gapMs = 250,
  ) {}

  reset(connection: Connection, seq?: number): void {
    clearTimeout(this.positions.get(connection)?.timer);
    this.positions.set(connection, { seq, held: new Map() });
  }

  forget(connection: Connection): void {
    clearTimeout(this.positions.get(connection)?.timer);
    this.positions.delete(connection);
  }

  seqOf(connection: Connection): number | undefined {
    return this.positions.get(connection)?.seq;
  }

  deliver(connection: Connection, frame: F): void {
    if (!this.isStored(frame)) {
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
    if (!position || position.seq === undefined || position.syncing || connection.pending) return;
    position.syncing = true;
    let frames: F[] = [];
    try {
      frames = await this.source.fetchAfter(connection.sessionId, position.seq);
    } catch {
      // the database is away too: release what is held, in order; the client sees the gap in seq
    } finally {
      position.syncing = false;
    }
    if (this.positions.get(connection) !== position) return;
    for (const frame of frames) {
      if (!this.isStored(frame)) continue;
      const seq = frame.seq;
      if (seq > (position.seq ?? 0) && !position.held.has(seq)) position.held.set(seq, frame);
    }
    this.flush(connection, position);
    this.release(connection, position);
  }

  private accept(connection: Connection, seq: number, frame: F | null): void {
    let position = this.positions.get(connection);
    if (!position) {
      position = { held: new Map() };
      this.positions.set(connection, position);
    }
    if (position.seq === undefined) {
      position.seq = seq;
      if (frame) this.write(connection, frame);
      return;
    }
    if (seq <= position.seq || position.held.has(seq)) return;
    position.held.set(seq, frame);
    this.flush(connection, position);
    if (position.held.size > 0 && !position.timer) {
      position.timer = setTimeout(() => {
        position.timer = undefined;
        void this.catchUp(connection);
      }, this.gapMs);
      position.timer.unref();
    }
  }

  private flush(connection: Connection, position: Position<F>): void {
    for (let next = (position.seq ?? 0) + 1; position.held.has(next); next++) {
      const frame = position.held.get(next);
      position.held.delete(next);
      position.seq = next;
      if (frame) this.write(connection, frame);
    }
    if (position.held.size === 0) {
      clearTimeout(position.timer);
      position.timer = undefined;
    }
  }

  // A gap the database could not fill: deliver the rest in order rather than hold it forever.
  private release(connection: Connection, position: Position<F>): void {
    const seqs = [...position.held.keys()].sort((a, b) => a - b);
    for (const seq of seqs) {
      const frame = position.held.get(seq);
      position.held.delete(seq);
      position.seq = seq;
      if (frame) this.write(connection, frame);
    }
    clearTimeout(position.timer);
    position.timer = undefined;
  }
}

import type { Connection } from './connection';
import type { ServerFrame } from './frames';

// A stored event of the session log (it has its own seq); ephemeral frames (deltas, loading,
// typing, errors) carry the last stored seq and are never reordered or dropped.
export function isStoredFrame(frame: ServerFrame): boolean {
  return (
    typeof frame.seq === 'number' &&
    frame.id !== undefined &&
    frame.timestamp !== undefined &&
    !(frame.type === 'ai_response' && frame.metadata?.done === false)
  );
}

interface Position {
  // highest seq this socket has, with every seq before it
  seq?: number;
  // arrived early (another instance's event overtook one still on its way); null = seen elsewhere
  held: Map<number, ServerFrame | null>;
  timer?: NodeJS.Timeout;
  syncing?: boolean;
}

export interface StoredSource {
  fetchAfter(sessionId: string, seq: number): Promise<ServerFrame[]>;
}

// Gives each socket the session's stored events exactly once and in seq order. Events written by two
// instances can cross on the bus; the later one waits here until the gap fills, or for `gapMs`, after
// which the missing events are read from the database.
export class SeqOrder {
  private readonly positions = new WeakMap<Connection, Position>();

  constructor(
    private readonly write: (connection: Connection, frame: ServerFrame) => void,
    private readonly source: StoredSource,
    private readonly gapMs = 250,
    // which frames are stored events with a seq of their own (rooms tell theirs apart differently)
    private readonly isStored: (frame: ServerFrame) => boolean = isStoredFrame,
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

  deliver(connection: Connection, frame: ServerFrame): void {
    if (!this.isStored(frame)) {
      this.write(connection, frame);
      return;
    }
    this.accept(connection, frame.seq as number, frame);
  }

  // The socket has this event another way (the ack of its own message).
  skip(connection: Connection, frame: ServerFrame): void {
    if (this.isStored(frame)) this.accept(connection, frame.seq as number, null);
  }

  // Reads every stored event after the socket's position and delivers what it lacks.
  async catchUp(connection: Connection): Promise<void> {
    const position = this.positions.get(connection);
    if (!position || position.seq === undefined || position.syncing || connection.pending) return;
    position.syncing = true;
    let frames: ServerFrame[] = [];
    try {
      frames = await this.source.fetchAfter(connection.sessionId, position.seq);
    } catch {
      // the database is away too: release what is held, in order; the client sees the gap in seq
    } finally {
      position.syncing = false;
    }
    if (this.positions.get(connection) !== position) return;
    for (const frame of frames) {
      const seq = frame.seq as number;
      if (seq > (position.seq ?? 0) && !position.held.has(seq)) position.held.set(seq, frame);
    }
    this.flush(connection, position);
    this.release(connection, position);
  }

  private accept(connection: Connection, seq: number, frame: ServerFrame | null): void {
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

  private flush(connection: Connection, position: Position): void {
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
  private release(connection: Connection, position: Position): void {
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

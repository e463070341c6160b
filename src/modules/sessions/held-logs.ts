import type { WrittenSession } from './session.types';

// what a held message costs beyond its text (its record, ids, dates), roughly
const MESSAGE_OVERHEAD_BYTES = 200;

// The session logs an instance holds (SessionsService's copies), least recently written first,
// bounded by their count and by the text they hold: a session may hold up to MAX_SESSION_BYTES, so a
// bound by count alone (256 logs) could have held gigabytes.
export class HeldLogs {
  private readonly logs = new Map<string, { log: WrittenSession; bytes: number }>();
  private total = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.logs.size;
  }

  // the text and records held, roughly (bytes)
  get bytes(): number {
    return this.total;
  }

  get(sessionId: string): WrittenSession | undefined {
    return this.logs.get(sessionId)?.log;
  }

  // Holds `log` as the newest; the oldest go while past either bound (a log past the byte bound by
  // itself is not held at all).
  set(sessionId: string, log: WrittenSession): void {
    this.delete(sessionId);
    const bytes = logBytes(log);
    if (bytes > this.maxBytes) return;
    this.logs.set(sessionId, { log, bytes });
    this.total += bytes;
    for (const [oldest, held] of this.logs) {
      if (this.logs.size <= this.maxCount && this.total <= this.maxBytes) break;
      this.logs.delete(oldest);
      this.total -= held.bytes;
    }
  }

  delete(sessionId: string): boolean {
    const held = this.logs.get(sessionId);
    if (!held) return false;
    this.logs.delete(sessionId);
    this.total -= held.bytes;
    return true;
  }
}

function logBytes(log: WrittenSession): number {
  let bytes = 0;
  for (const message of log.messages) bytes += MESSAGE_OVERHEAD_BYTES + (message.content?.length ?? 0);
  return bytes;
}

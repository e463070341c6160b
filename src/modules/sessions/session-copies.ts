import { HeldLogs } from './held-logs';
import type { MessageRecord, SessionHead, SessionRecord, WrittenSession } from './session.types';

// sessions kept with their messages for replies started early: at most this many, holding at most
// this much text (a session may hold up to MAX_SESSION_BYTES)
const SNAPSHOTS_KEPT = 256;
const SNAPSHOT_BYTES = 64 * 1024 * 1024;

// What this instance holds of sessions (SessionsService's caches): their last seq, their newest copy
// with messages and when this instance last wrote them. Written by the service's own writes, each
// under the session lock it already holds; nothing here locks or awaits.
export class SessionCopies {
  // last seq this instance saw per session; a stale value (another instance wrote since) only costs
  // one compare-and-set retry, which is exact because it runs under the session lock
  readonly seqCache = new Map<string, number>();
  // The newest sessions as this instance's own appends left them, messages included, so a reply
  // can start while its message is being stored (docs/protocol.md, "Early start"). Kept under the
  // session lock by the appends themselves; another instance's write shows as a seq this copy
  // lacks, which the early reply checks at confirm (early-reply.ts). Bounded: the least recently written go first.
  readonly snapshots = new HeldLogs(SNAPSHOTS_KEPT, SNAPSHOT_BYTES);
  // when this instance last set a session's last_activity (an append, a touch, its creation): the
  // sweep skips sessions written recently enough (needsTouch); pruned by every sweep to the
  // sessions that still have sockets here
  readonly writtenAt = new Map<string, number>();
  // the sessions the last sweep found unused here (keepLive)
  unused = new Set<string>();

  lastSeq(sessionId: string): number | undefined {
    return this.seqCache.get(sessionId);
  }

  // Seeds the seq cache from a freshly read session (only ever moves forward).
  remember(session: SessionRecord): void {
    if ((this.seqCache.get(session.id) ?? -1) < session.seq) this.seqCache.set(session.id, session.seq);
  }

  forget(sessionId: string): void {
    this.seqCache.delete(sessionId);
    this.snapshots.delete(sessionId);
    this.writtenAt.delete(sessionId);
  }

  // The session as this instance last wrote it (messages included), when it still has it.
  snapshot(sessionId: string): WrittenSession | undefined {
    return this.snapshots.get(sessionId);
  }

  // Under the session lock, after a stored append: the document as written, or the copy with the
  // message added when the copy was current; otherwise the copy is dropped.
  keepSnapshot(sessionId: string, message?: MessageRecord, written?: WrittenSession): void {
    const held = this.snapshots.get(sessionId);
    this.snapshots.delete(sessionId);
    let next = written;
    if (!next && held && message && held.seq === message.seq - 1)
      next = {
        ...held,
        seq: message.seq,
        last_activity: message.timestamp,
        messages: [...held.messages, message],
      };
    if (!next) return;
    this.snapshots.set(sessionId, next);
  }

  // A write of this instance outside the log's seq, made to the copy it holds too (under the session
  // lock, after the store took it): the next append's guards hold (docs/protocol.md, "Coalesced
  // writes"). A write it misses (another instance's) fails those guards, and the copy is dropped.
  amend(sessionId: string, changes: Partial<SessionHead>): void {
    const held = this.snapshots.get(sessionId);
    if (held) this.snapshots.set(sessionId, { ...held, ...changes });
  }
}

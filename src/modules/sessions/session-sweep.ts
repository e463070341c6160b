import type { Logger } from '@nestjs/common';
import type { Settings } from '../../config/settings';
import type { SessionCopies } from './session-copies';
import { keepAliveMs, needsTouch } from './session-rules';
import type { SessionsRepository } from './sessions.repository';

// The sessions' idle sweep and its keep-live bookkeeping (SessionsService delegates them here): the
// sessions with sockets here kept from looking idle, what this instance remembers of the others
// let go, idle sessions ended. Each write under the service's session lock, each end by the service.
export class SessionSweep {
  constructor(
    private readonly repository: SessionsRepository,
    private readonly settings: Pick<Settings, 'sweepIntervalMs' | 'reconnectTimeoutMs'>,
    private readonly copies: SessionCopies,
    private readonly sessionLock: <T>(sessionId: string, task: () => Promise<T>) => Promise<T>,
    private readonly end: (sessionId: string, idleBefore: Date) => Promise<boolean>,
    private readonly logger: Logger,
  ) {}

  // last_activity = now (the last device of a session left: its reconnect window starts now). The
  // ids of those found not active (ended, gone): nothing was written to them.
  async touch(sessionIds: string[], now = new Date()): Promise<string[]> {
    const active = await Promise.all(
      sessionIds.map((id) =>
        this.sessionLock(id, async () => {
          const touched = await this.repository.touch(id, now);
          if (touched) this.copies.writtenAt.set(id, now.getTime());
          return touched;
        }),
      ),
    );
    return sessionIds.filter((_, index) => !active[index]);
  }

  // The sweep's: keeps the sessions with sockets here from looking idle (touchLive), and lets go of
  // what this instance remembers of the others (their seq, their copy): it goes at the second
  // sweep in a row that finds one with no socket here and nothing else using it (`busy`: a reply
  // being made, an admin's own session while the admin assists another), so a write that comes just
  // after (a title) still finds it. A session ended any other way than by this instance's sweep
  // (resumed over, or swept by another instance first) was remembered for good. Forgotten is one read
  // more, at that session's next append.
  async keepLive(live: string[], now = new Date(), busy: string[] = []): Promise<string[]> {
    const liveSet = new Set(live);
    for (const id of this.copies.writtenAt.keys()) if (!liveSet.has(id)) this.copies.writtenAt.delete(id);
    const kept = new Set([...live, ...busy]);
    for (const id of this.copies.unused)
      if (!kept.has(id)) {
        this.copies.seqCache.delete(id);
        this.copies.snapshots.delete(id);
      }
    this.copies.unused = new Set([...this.copies.seqCache.keys()].filter((id) => !kept.has(id)));
    return this.touchLive(live, now);
  }

  // The keep-alive (at each sweep, and every keepAliveMs between: docs/protocol.md, "Idle sessions"):
  // keeps the sessions that have sockets here (all of them, `live`) from looking idle to any
  // instance's sweep. One written here within the last keep-alive period needs no write for that
  // (needsTouch: it stays used within half the reconnect timeout), so a session in use costs no write
  // per keep-alive; an idle one is touched. The ids of those found ended (touch).
  touchLive(live: string[], now = new Date()): Promise<string[]> {
    const period = keepAliveMs(this.settings);
    const { reconnectTimeoutMs } = this.settings;
    return this.touch(
      live.filter((id) =>
        needsTouch(this.copies.writtenAt.get(id), now.getTime(), period, reconnectTimeoutMs),
      ),
      now,
    );
  }

  // Ends sessions idle past RECONNECT_TIMEOUT; the caller keeps sessions with live sockets touched.
  async sweepIdle(now = new Date()): Promise<string[]> {
    const idleSince = new Date(now.getTime() - this.settings.reconnectTimeoutMs);
    const idle = await this.repository.findIdle(idleSince);
    const ended: string[] = [];
    for (const sessionId of idle) {
      // still idle when its lock is held: a touch since keeps it
      if (await this.end(sessionId, idleSince)) {
        ended.push(sessionId);
        this.copies.forget(sessionId);
      }
    }
    if (ended.length > 0)
      this.logger.log({ event: 'sessions_swept', count: ended.length }, 'idle sessions ended');
    return ended;
  }
}

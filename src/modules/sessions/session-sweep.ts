import type { Logger } from '@nestjs/common';
import type { Settings } from '../../config/settings';
import type { SessionCopies } from './session-copies';
import { needsTouch } from './session-rules';
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
    private readonly end: (sessionId: string) => Promise<boolean>,
    private readonly logger: Logger,
  ) {}

  // last_activity = now (the last device of a session left: its reconnect window starts now)
  async touch(sessionIds: string[], now = new Date()): Promise<void> {
    await Promise.all(
      sessionIds.map((id) =>
        this.sessionLock(id, async () => {
          await this.repository.touch(id, now);
          this.copies.writtenAt.set(id, now.getTime());
        }),
      ),
    );
  }

  // The sweep's: keeps the sessions that have sockets here (all of them, `live`) from looking idle to
  // any instance's sweep. One written here within the last sweep interval needs no write for that
  // (needsTouch: it stays used within half the reconnect timeout), so a session in use costs no
  // write per sweep; an idle one is touched as before.
  // What this instance remembers of the other sessions (their seq, their copy) goes too, at the second
  // sweep in a row that finds one with no socket here and nothing else using it (`busy`: a reply
  // being made, an admin's own session while the admin assists another), so a write that comes just
  // after (a title) still finds it. A session ended any other way than by this instance's sweep
  // (resumed over, or swept by another instance first) was remembered for good. Forgotten is one read
  // more, at that session's next append.
  async keepLive(live: string[], now = new Date(), busy: string[] = []): Promise<void> {
    const liveSet = new Set(live);
    for (const id of this.copies.writtenAt.keys()) if (!liveSet.has(id)) this.copies.writtenAt.delete(id);
    const kept = new Set([...live, ...busy]);
    for (const id of this.copies.unused)
      if (!kept.has(id)) {
        this.copies.seqCache.delete(id);
        this.copies.snapshots.delete(id);
      }
    this.copies.unused = new Set([...this.copies.seqCache.keys()].filter((id) => !kept.has(id)));
    const { sweepIntervalMs, reconnectTimeoutMs } = this.settings;
    await this.touch(
      live.filter((id) =>
        needsTouch(this.copies.writtenAt.get(id), now.getTime(), sweepIntervalMs, reconnectTimeoutMs),
      ),
      now,
    );
  }

  // Ends sessions idle past RECONNECT_TIMEOUT; the caller keeps sessions with live sockets touched.
  async sweepIdle(now = new Date()): Promise<string[]> {
    const idle = await this.repository.findIdle(new Date(now.getTime() - this.settings.reconnectTimeoutMs));
    const ended: string[] = [];
    for (const sessionId of idle) {
      if (await this.end(sessionId)) {
        ended.push(sessionId);
        this.copies.forget(sessionId);
      }
    }
    if (ended.length > 0)
      this.logger.log({ event: 'sessions_swept', count: ended.length }, 'idle sessions ended');
    return ended;
  }
}

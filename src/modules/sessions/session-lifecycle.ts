import type { Model } from 'mongoose';
import type { CurrentSessionsRepository } from './current-sessions.repository';
import type { Session } from './schemas/session.schema';
import type { SessionDocument } from './session-documents';
import { openMsUntil, reopened } from './session-rules';

// A session's life after it is created: its activity, its end (by the user or the idle sweep) and
// its return as the user's active session.
export class SessionLifecycle {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly current: CurrentSessionsRepository,
  ) {}

  // Under the session's lock (ActiveSessions.resume), as every write to it: the period it was open
  // last is read and kept in the same read-modify-write (a $push would not be atomic on FerretDB
  // either). What it wrote, for the caller's record; nothing when it was active already.
  async reactivate(
    sessionId: string,
    userId: string,
    now: Date,
  ): Promise<Partial<Pick<Session, 'resumed_at' | 'open_ms_before' | 'open_periods'>>> {
    const ended = await this.sessions
      .findOne(
        { _id: sessionId, is_active: false },
        { start_time: 1, end_time: 1, last_activity: 1, resumed_at: 1, open_ms_before: 1, open_periods: 1 },
      )
      .lean<SessionDocument>();
    const periods = ended ? reopened(ended, new Date(ended.end_time ?? ended.last_activity), now) : {};
    await this.sessions.updateOne(
      { _id: sessionId },
      // activity only moves up ($max: store conformance suite; under the session lock, as every
      // write of last_activity: docs/protocol.md, "Session library")
      {
        $set: { is_active: true, end_time: null, duration_ms: null, ...periods },
        $max: { last_activity: now },
      },
    );
    await this.current.set(userId, sessionId, now);
    return periods;
  }

  // Ends a session; end_time is the last activity, so a swept session's duration is its real use.
  // A help request waiting in it waits no more: nobody can join an ended session, and the dashboard
  // showed it "Help requested" for good (docs/protocol.md, "Help requests"). help_requested stays.
  // The ended session's seq and whether it mirrored a takeover, undefined when it was not active.
  // `idleBefore` (the idle sweep's): only when it is still unused since then. The sweep found it idle
  // a moment before; a keep-alive touch or a message since (under the session lock the caller holds,
  // as every write to it) keeps it (docs/protocol.md, "Idle sessions").
  async end(
    sessionId: string,
    endTime?: Date,
    idleBefore?: Date,
  ): Promise<{ seq: number; assisted: boolean } | undefined> {
    const found = await this.sessions
      .findOne(
        { _id: sessionId, is_active: true, ...(idleBefore ? { last_activity: { $lt: idleBefore } } : {}) },
        { start_time: 1, resumed_at: 1, open_ms_before: 1, last_activity: 1, seq: 1, assisting_admin_id: 1 },
      )
      .lean<SessionDocument>();
    if (!found) return undefined;
    const end = endTime ?? found.last_activity;
    const result = await this.sessions.updateOne(
      { _id: sessionId, is_active: true },
      {
        $set: {
          is_active: false,
          help_pending: false,
          end_time: end,
          // its open time: a resumed session's closed periods are not in it (docs/protocol.md,
          // "Resumed sessions")
          duration_ms: openMsUntil(found, end),
        },
      },
    );
    return result.modifiedCount === 1
      ? { seq: found.seq, assisted: found.assisting_admin_id != null }
      : undefined;
  }

  // One session by its exact `_id` (FerretDB reads `_id: {$in}` by scanning every session). False:
  // it is not active (ended, or gone).
  async touch(sessionId: string, now: Date): Promise<boolean> {
    const result = await this.sessions.updateOne(
      { _id: sessionId, is_active: true },
      // a message stored since `now` was taken keeps its later time (reactivate)
      { $max: { last_activity: now } },
    );
    return result.matchedCount === 1;
  }

  async findIdle(idleSince: Date, limit = 500): Promise<string[]> {
    const found = await this.sessions
      .find({ is_active: true, last_activity: { $lt: idleSince } }, { _id: 1 })
      .limit(limit)
      .lean<Array<{ _id: string }>>();
    return found.map((document) => document._id);
  }
}

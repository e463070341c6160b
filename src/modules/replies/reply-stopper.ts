import type { Bus } from '../../infra/bus/bus';
import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { SessionsService } from '../sessions/sessions.service';
import type { DeletedSessions } from './deleted-sessions';
import type { ReplyDrain } from './reply-drain';
import type { Generation } from './reply-generation';
import type { ReplyHolds } from './reply-holds';
import type { StopReason } from './reply-recorder';
import type { StopsAfterLoss, StopsBeforeShown } from './reply-stops';
import type { ReplyTitles } from './reply-titles';

// the stops a user's device sends: stop_generation, and new_session ending the session
export type UserStopReason = Extract<StopReason, 'stopped' | 'new_session'>;
interface ReplyBusMessage {
  k: 'stop';
  session: string;
  // when the user stopped (a reply decided after it is not stopped)
  at: number;
  // absent from an instance before the admin audit: a stop_generation; 'deleted': the user deleted
  // the session (an instance before the library audit takes it for a stop_generation)
  reason?: UserStopReason | 'deleted';
}

// What the stops act on: the replies asked for and shown on this instance (ReplyService).
export interface StoppableReplies {
  // the session's reply in flight here, per session
  readonly running: Map<string, Generation>;
  readonly holds: ReplyHolds;
  readonly stopsBeforeShown: StopsBeforeShown;
  readonly stopsAfterLoss: StopsAfterLoss;
  readonly deleted: DeletedSessions;
  // a graceful stop: no reply starts from SIGTERM on, those shown run within the grace
  readonly drained: ReplyDrain;
  readonly titles: ReplyTitles;
}

// The stops of a session's reply: a user's (here, or from a device on another instance over the
// bus), a takeover's, the user deleting the session, and the end of a graceful stop's grace
// (ReplyService delegates to it).
export class ReplyStopper {
  constructor(
    private readonly topic: string,
    private readonly bus: Bus | undefined,
    private readonly leases: ReplyLeases,
    private readonly sessions: SessionsService,
    private readonly replies: StoppableReplies,
  ) {}

  // A message on the replies topic: false when it is no stop (a snapshot's: ReplySnapshots).
  receive(payload: object): boolean {
    const message = payload as ReplyBusMessage;
    if (message.k !== 'stop') return false;
    if (message.reason === 'deleted') this.gone(message.session);
    else this.stop(message.session, message.reason === 'new_session' ? 'new_session' : 'stopped', message.at);
    return true;
  }

  // A user's stop (stop_generation, or new_session ending the session): the reply streaming here, or
  // (stop_generation) asked for here and not yet shown; otherwise on whichever instance has it (the
  // user's devices may be on several; docs/protocol.md, "The reply in flight"). `reason` is what the
  // reply is stored with, as when it streams here (ReplyRecorder).
  stopEverywhere(sessionId: string, at: number, reason: UserStopReason): void {
    const streamingHere = this.replies.running.has(sessionId);
    this.stop(sessionId, reason, at);
    // one only asked for here may be behind one streaming on another instance: that one is stopped,
    // and this one not (stop())
    if (!streamingHere)
      this.bus?.publish(this.topic, { k: 'stop', session: sessionId, at, reason } satisfies ReplyBusMessage);
  }

  // The user deleted the session (docs/protocol.md, "Session library"): on every instance, its reply
  // in flight stops and is not stored, and no turn of it queued there is asked of the model. Until
  // the library audit only the streaming reply stopped (stored, flagged stopped) and the turn queued
  // behind it was sent to the vendor and its whole reply stored in the deleted session (4 of 4).
  sessionDeleted(sessionId: string, at: number): void {
    this.gone(sessionId);
    this.bus?.publish(this.topic, {
      k: 'stop',
      session: sessionId,
      at,
      reason: 'deleted',
    } satisfies ReplyBusMessage);
  }

  private gone(sessionId: string): void {
    this.replies.deleted.add(sessionId);
    this.replies.running.get(sessionId)?.controller.abort('deleted');
    // no copy of it kept here either (no early start from one)
    this.sessions.forget(sessionId);
  }

  stop(sessionId: string, reason: StopReason, now: number): boolean {
    const generation = this.replies.running.get(sessionId);
    // a user's stop of a reply dropped for its lost lease holds for the turn's next answer
    if (reason === 'stopped' || reason === 'new_session')
      this.replies.stopsAfterLoss.stop(
        sessionId,
        now,
        reason,
        generation?.controller.signal.reason === 'lease_lost',
      );
    if (generation) {
      // a user's stop ends the reply in flight when it was sent, not one decided after it: a stop
      // from a device on another instance may come late (a slow bus), when that reply ended on its
      // own and the next turn's streams. Until a vendors audit in session 40 it cut that one
      // (6 of 6 rounds; test/e2e/stop-late-bus.e2e-spec.ts)
      const user = reason === 'stopped' || reason === 'new_session';
      if (user && generation.decidedAt > now) return false;
      generation.controller.abort(reason);
      return true;
    }
    // asked for, not yet shown: a user's stop (stop_generation, new_session) sent the instant the
    // message was acked stops it too
    if ((reason !== 'stopped' && reason !== 'new_session') || !this.replies.holds.has(sessionId))
      return false;
    void this.stopQueued(sessionId, now, reason);
    return true;
  }

  // The reply asked for here and not yet shown is the one in flight only while no other instance
  // answers the session: otherwise it waits behind that one, which is the stop's. Until the races
  // audit of session 34 a stop from a device on the instance of a queued turn stopped both the reply
  // streaming elsewhere and the queued one, 6 of 6 (turns.e2e-spec.ts).
  private async stopQueued(sessionId: string, at: number, reason: UserStopReason): Promise<void> {
    if (await this.leases.answeringElsewhere(sessionId)) return;
    // shown while that was asked: stopped if decided before the stop, as the stop would have
    const shown = this.replies.running.get(sessionId);
    if (shown) {
      if (shown.decidedAt <= at) shown.controller.abort(reason);
      return;
    }
    if (this.replies.holds.has(sessionId)) this.replies.stopsBeforeShown.set(sessionId, at, reason);
  }

  // The end of the grace: every reply still running (shown, or started early) is cut, stored as
  // `reason` says, and every task of the queue and every title is over before this resolves: the
  // store client closes after the shutdown hooks, and nothing of a reply may read or write it then
  // (docs/protocol.md, "Graceful shutdown").
  async stopAll(reason: StopReason): Promise<void> {
    const { running, drained } = this.replies;
    drained.begin();
    const titles = this.replies.titles.close();
    const all = [...running.values(), ...drained.unshown()];
    for (const generation of all) generation.controller.abort(reason);
    await Promise.all([...all.map((generation) => generation.done), titles, drained.settled()]);
  }
}

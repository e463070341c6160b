import { Inject, Injectable, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import { LocalReplyLeases, REPLY_LEASES, type ReplyLeases } from '../../infra/lock/reply-lease';
import { LlmRegistry } from '../llm/llm.registry';
import { ModelStream } from '../llm/model-stream';
import { SessionTitler } from '../llm/session-titler';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from '../realtime/client-hub';
import { EarlyReplies, type EarlyReply, type EarlyRequest } from './early-reply';
import { DeletedSessions } from './deleted-sessions';
import { ReplyAttempts } from './reply-attempts';
import { ReplyDrain } from './reply-drain';
import { ReplyFences } from './reply-fences';
import { ReplyHolds } from './reply-holds';
import type { Generation, ReplyRequest } from './reply-generation';
import { ReplyPrompt } from './reply-prompt';
import { ReplySessionQueue } from './reply-queue';
import { RegenerationsInFlight } from './regenerations';
import { ReplyRecorder, type StopReason } from './reply-recorder';
import { ReplySnapshots, type ReplySnapshot } from './reply-snapshots';
import { StopsAfterLoss, StopsBeforeShown } from './reply-stops';
import { ReplyStopper, type UserStopReason } from './reply-stopper';
import { ReplyStreamer } from './reply-stream';
import { ReplyTitles } from './reply-titles';
import { ReplyTurns } from './reply-turns';
import { ReplyVisibility } from './reply-visibility';

export type { EarlyReply } from './early-reply';
export type { Generation, ReplyRequest } from './reply-generation';
export type { UserStopReason } from './reply-stopper';

// how often settled() looks again
const SETTLE_POLL_MS = 20;

// a user's stop sent from a device on another instance than the one streaming the reply
// (ReplyStopper), and the snapshots of a reply streaming (ReplySnapshots)
const TOPIC = 'replies';

// Streams an LLM reply to every device of the session and stores it once complete. Generation is
// independent of sockets: if every device drops, the reply is still stored and replayed later.
// Takeover fences (ReplyFences), early starts (EarlyReplies), the streaming loop (ReplyStreamer),
// titles (ReplyTitles), each reply's attempt (ReplyAttempts), the per-session queue
// (ReplySessionQueue), the stops (ReplyStopper) and what is shown (ReplyVisibility) are their own
// classes; this one wires them and answers for the replies of this instance.
@Injectable()
export class ReplyService implements OnModuleInit, OnModuleDestroy {
  private readonly running = new Map<string, Generation>();
  // replies requested and not yet stored, per session (queued or running), and the reply lease
  private readonly holds: ReplyHolds;
  // (the lease lost: a reply shown under it stops, storing nothing)
  private readonly fences = new ReplyFences((sessionId) => this.leases.lost(sessionId));
  private readonly stopsBeforeShown = new StopsBeforeShown();
  private readonly stopsAfterLoss = new StopsAfterLoss();
  private readonly regenerations = new RegenerationsInFlight();
  private readonly titles: ReplyTitles;
  private readonly streamer: ReplyStreamer;
  private readonly earlyReplies: EarlyReplies;
  private readonly snapshots: ReplySnapshots;
  // turn order across instances, and the turns whose reply failed here
  private readonly turns: ReplyTurns;
  // one reply: prompt, stream, storage, title (or its failure reported)
  private readonly attempts: ReplyAttempts;
  // a graceful stop: no reply starts from SIGTERM on, those shown run within the grace
  private readonly drained: ReplyDrain;
  // a reply shown here: the session's reply in flight, its frames going out
  private readonly visible: ReplyVisibility;
  private readonly queue: ReplySessionQueue;
  private readonly stopper: ReplyStopper;

  constructor(
    private readonly sessions: SessionsService,
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly model: ModelStream,
    private readonly titler: SessionTitler,
    private readonly recorder: ReplyRecorder,
    private readonly prompt: ReplyPrompt,
    @Optional() @Inject(REPLY_LEASES) private readonly leases: ReplyLeases = new LocalReplyLeases(),
    @Optional() @Inject(BUS) private readonly bus?: Bus,
    @Optional() private readonly deleted: DeletedSessions = new DeletedSessions(),
  ) {
    this.titles = new ReplyTitles(titler, sessions, hub);
    this.drained = new ReplyDrain(hub);
    this.visible = new ReplyVisibility(hub, this.fences, this.running, this.stopsBeforeShown, (sessionId) =>
      this.holds.sync(sessionId),
    );
    this.holds = new ReplyHolds(
      this.leases,
      (sessionId) => this.visible.storing(sessionId) || !this.fences.on(sessionId),
    );
    this.turns = new ReplyTurns(sessions, this.leases, this.holds, () => this.draining);
    this.streamer = new ReplyStreamer(model, sessions, this.fences, (generation, frame) =>
      this.visible.emit(generation, frame),
    );
    this.earlyReplies = new EarlyReplies(sessions, registry, this.fences, {
      answering: (sessionId) => this.holds.has(sessionId),
      orphans: (sessionId, messages) => this.turns.orphans(sessionId, messages),
      run: (input, early) => this.queue.run(input, early),
      show: (generation) => this.visible.show(generation),
    });
    this.attempts = new ReplyAttempts(
      registry,
      hub,
      { prompt, streamer: this.streamer, recorder, titles: this.titles, turns: this.turns },
      {
        running: this.running,
        stopsBeforeShown: this.stopsBeforeShown,
        show: (generation) => this.visible.show(generation),
        emit: (generation, frame) => this.visible.emit(generation, frame),
        leaving: (input) => this.drained.leaving(input),
        gone: (sessionId) => this.deleted.has(sessionId),
      },
    );
    // what the queue and the stops act on, shared with the rest of the service
    const here = {
      running: this.running,
      holds: this.holds,
      regenerations: this.regenerations,
      stopsBeforeShown: this.stopsBeforeShown,
      stopsAfterLoss: this.stopsAfterLoss,
      drained: this.drained,
      deleted: this.deleted,
      titles: this.titles,
    };
    this.queue = new ReplySessionQueue(this.leases, this.turns, this.attempts, here);
    this.stopper = new ReplyStopper(TOPIC, bus, this.leases, sessions, here);
    recorder.onLeaseLost((sessionId) => this.stopsAfterLoss.dropped(sessionId));
    this.snapshots = new ReplySnapshots(TOPIC, bus, this.leases, (sessionId) => ({
      answering: this.holds.has(sessionId),
      shown: this.running.get(sessionId),
    }));
  }

  onModuleInit(): void {
    this.bus?.subscribe(TOPIC, (payload, from) => {
      if (typeof payload !== 'object' || payload === null) return;
      if (!this.stopper.receive(payload)) this.snapshots.receive(payload as Record<string, unknown>, from);
    });
  }

  // SIGTERM: Nest calls every onModuleDestroy before any shutdown hook, so from here on no reply
  // starts (ReplyDrain), while the gateways' hooks close the sockets and wait (ChatGateway)
  onModuleDestroy(): void {
    this.drained.begin();
  }

  // the instance is stopping: no reply starts here any more
  get draining(): boolean {
    return this.drained.draining;
  }

  // Redis, where the reply lease lives, away past the time a reply waits for it
  get leasesOut(): boolean {
    return this.leases.outage;
  }

  // A user's stop, here and on whichever instance has the reply (ReplyStopper.stopEverywhere;
  // docs/protocol.md, "The reply in flight").
  stopEverywhere(sessionId: string, at = Date.now(), reason: UserStopReason = 'stopped'): void {
    this.stopper.stopEverywhere(sessionId, at, reason);
  }

  // The user deleted the session: its replies stop on every instance, none of its turns is asked of
  // the model (ReplyStopper.sessionDeleted; docs/protocol.md, "Session library").
  sessionDeleted(sessionId: string, at = Date.now()): void {
    this.stopper.sessionDeleted(sessionId, at);
  }

  // Resolves once no reply of the session shown here is still being stored, and no other instance
  // holds the session's reply lease (each holds it while it may still show or store one: ReplyHolds), or after
  // `timeoutMs`: a takeover logs its admin_join after the replies it cut off are stored
  // (docs/protocol.md, "Takeover handoff"). Replies only queued here are not waited for: the
  // takeover's fence stops each before its first piece shows, and such a reply stores nothing
  // (ReplyRecorder). Waiting for them too let a user who kept writing hold the join back for the
  // whole wait (the admin fuzz counted probes unanswered for 5 s).
  async settled(sessionId: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const elsewhere = await this.leases.heldElsewhere(sessionId).catch(() => false);
      if (!this.visible.storing(sessionId) && !elsewhere) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  // the sessions whose reply is streaming on this instance
  streaming(): string[] {
    return [...this.running.keys()];
  }

  // the sessions with a reply queued or running on this instance
  answeringHere(): string[] {
    return this.holds.sessions();
  }

  // a reply is queued or running for the session on this instance
  answering(sessionId: string): boolean {
    return this.holds.has(sessionId);
  }

  // other instances may answer the session's turns (the reply lease is Redis's)
  get shared(): boolean {
    return this.leases.shared;
  }

  // A reply of the session is queued or running here, or another instance holds its lease (or may:
  // Redis away, as a reply waiting its turn reads it): a new version of the turn is refused then
  // (docs/protocol.md, "Versions"; reply-in-flight.ts).
  async answeringAnywhere(sessionId: string): Promise<boolean> {
    if (this.holds.has(sessionId)) return true;
    return this.leases.shared && (await this.leases.answeringElsewhere(sessionId));
  }

  // a regenerate with this client_id was asked for here and is not over (queued, streaming, storing)
  regenerating(sessionId: string, clientId: string): boolean {
    return this.regenerations.has(sessionId, clientId);
  }

  inFlight(sessionId: string): Generation | undefined {
    return this.running.get(sessionId);
  }

  // The session's reply streaming on another instance, as it is now (ReplySnapshots)
  textElsewhere(sessionId: string, timeoutMs: number): Promise<ReplySnapshot | undefined> {
    return this.snapshots.elsewhere(sessionId, timeoutMs);
  }

  get activeCount(): number {
    return this.running.size;
  }

  // Replies run one at a time per session, in the order their messages were stored.
  request(input: ReplyRequest): void {
    if (input.written) this.fences.endedInLog(input.written);
    const stop = this.stopsAfterLoss.take(input.sessionId);
    this.queue.run(input);
    // a stop that came for the turn's dropped reply stops this answer before its first piece: the
    // turn closes stopped (StopsAfterLoss)
    if (stop) this.stopsBeforeShown.set(input.sessionId, Number.POSITIVE_INFINITY, stop.reason);
  }

  // Starts the model on a user's turn while its message is being stored, when this instance holds
  // the session as last written and nothing else is answering it; the caller confirms or cancels.
  early(input: EarlyRequest): EarlyReply | undefined {
    if (this.draining || this.deleted.has(input.sessionId)) return undefined;
    return this.earlyReplies.start(input);
  }

  // An admin took the session over (on this instance or another): the reply in flight stops, and
  // every reply decided before now stops at its next frame, before any more of it reaches a device:
  // one requested while the takeover was being claimed (a turn left unanswered by the admin before,
  // a message stored just before the claim) or whose frames were already on their way.
  takeoverStarted(sessionId: string, epoch?: number, takeoverStart?: number, now = Date.now()): void {
    this.fences.takeoverStarted(sessionId, epoch, takeoverStart, now);
    // a takeover's stop, not a user's: a reply stopped before its first piece is not stored (a user's
    // stop stores it empty to close the turn), so the turn stays open for the admin, and for the model
    // once the takeover ends if nobody answered it
    this.stop(sessionId, 'takeover');
    this.holds.sync(sessionId);
  }

  // the end of that takeover: a late copy of an earlier one's end leaves a newer one on
  takeoverClosed(sessionId: string, epoch?: number, now = Date.now()): void {
    this.fences.takeoverClosed(sessionId, epoch, now);
    this.holds.sync(sessionId);
  }

  // a user's stop or a takeover's: the reply in flight here, or one asked for here and not yet shown
  // (ReplyStopper.stop)
  stop(sessionId: string, reason: StopReason = 'stopped', now = Date.now()): boolean {
    return this.stopper.stop(sessionId, reason, now);
  }

  // The end of the grace: every reply still running is cut and stored as `reason` says, and every
  // task of the queue and every title is over before this resolves (ReplyStopper.stopAll;
  // docs/protocol.md, "Graceful shutdown").
  stopAll(reason: StopReason): Promise<void> {
    return this.stopper.stopAll(reason);
  }

  // SIGTERM: no reply starts from now on; resolves once the replies running have ended (the ones
  // queued behind them end at once, left), or after `timeoutMs`
  async drain(timeoutMs: number): Promise<void> {
    this.drained.begin();
    await this.drained.settled(timeoutMs);
  }
}

import { Inject, Injectable, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import { KeyedMutex } from '../../common/keyed-mutex';
import { LocalReplyLeases, REPLY_LEASES, type ReplyLeases } from '../../infra/lock/reply-lease';
import type { EphemeralFrame } from '../../protocol/frames';
import { LlmRegistry } from '../llm/llm.registry';
import { ModelStream } from '../llm/model-stream';
import { SessionTitler } from '../llm/session-titler';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from '../realtime/client-hub';
import { EarlyReplies, type EarlyReply, type EarlyRequest, type EarlyStart } from './early-reply';
import { DeletedSessions } from './deleted-sessions';
import { ReplyAttempts } from './reply-attempts';
import { ReplyDrain } from './reply-drain';
import { ReplyFences } from './reply-fences';
import { ReplyHolds } from './reply-holds';
import type { Generation, ReplyRequest } from './reply-generation';
import { ReplyPrompt } from './reply-prompt';
import { RegenerationsInFlight } from './regenerations';
import { ReplyRecorder, type StopReason } from './reply-recorder';
import { ReplySnapshots, type ReplySnapshot } from './reply-snapshots';
import { StopsBeforeShown } from './reply-stops';
import { ReplyStreamer } from './reply-stream';
import { ReplyTitles } from './reply-titles';
import { ReplyTurns } from './reply-turns';

export type { EarlyReply } from './early-reply';
export type { Generation, ReplyRequest } from './reply-generation';

// how often settled() looks again
const SETTLE_POLL_MS = 20;

// a user's stop sent from a device on another instance than the one streaming the reply
const TOPIC = 'replies';
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

// Streams an LLM reply to every device of the session and stores it once complete. Generation is
// independent of sockets: if every device drops, the reply is still stored and replayed later.
// Takeover fences (ReplyFences), early starts (EarlyReplies), the streaming loop (ReplyStreamer),
// titles (ReplyTitles) and each reply's attempt (ReplyAttempts) are their own classes; the
// per-session queue and visibility stay here.
@Injectable()
export class ReplyService implements OnModuleInit, OnModuleDestroy {
  private readonly queue = new KeyedMutex();
  private readonly running = new Map<string, Generation>();
  // replies requested and not yet stored, per session (queued or running), and the reply lease
  private readonly holds: ReplyHolds;
  private readonly fences = new ReplyFences();
  private readonly stopsBeforeShown = new StopsBeforeShown();
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
    this.holds = new ReplyHolds(
      this.leases,
      (sessionId) => this.storing(sessionId) || !this.fences.on(sessionId),
    );
    this.turns = new ReplyTurns(sessions, this.leases, this.holds, () => this.draining);
    this.streamer = new ReplyStreamer(model, sessions, this.fences, (generation, frame) =>
      this.emit(generation, frame),
    );
    this.earlyReplies = new EarlyReplies(sessions, registry, this.fences, {
      answering: (sessionId) => this.holds.has(sessionId),
      orphans: (sessionId, messages) => this.turns.orphans(sessionId, messages),
      run: (input, early) => this.run(input, early),
      show: (generation) => this.show(generation),
    });
    this.attempts = new ReplyAttempts(
      registry,
      hub,
      { prompt, streamer: this.streamer, recorder, titles: this.titles, turns: this.turns },
      {
        running: this.running,
        stopsBeforeShown: this.stopsBeforeShown,
        show: (generation) => this.show(generation),
        emit: (generation, frame) => this.emit(generation, frame),
        leaving: (input) => this.drained.leaving(input),
        gone: (sessionId) => this.deleted.has(sessionId),
      },
    );
    this.snapshots = new ReplySnapshots(TOPIC, bus, this.leases, (sessionId) => ({
      answering: this.holds.has(sessionId),
      shown: this.running.get(sessionId),
    }));
  }

  onModuleInit(): void {
    this.bus?.subscribe(TOPIC, (payload, from) => {
      if (typeof payload !== 'object' || payload === null) return;
      const message = payload as ReplyBusMessage;
      if (message.k === 'stop' && message.reason === 'deleted') this.gone(message.session);
      else if (message.k === 'stop')
        this.stop(message.session, message.reason === 'new_session' ? 'new_session' : 'stopped', message.at);
      else this.snapshots.receive(payload as Record<string, unknown>, from);
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

  // A user's stop (stop_generation, or new_session ending the session): the reply streaming here, or
  // (stop_generation) asked for here and not yet shown; otherwise on whichever instance has it (the
  // user's devices may be on several; docs/protocol.md, "The reply in flight"). `reason` is what the
  // reply is stored with, as when it streams here (ReplyRecorder).
  stopEverywhere(sessionId: string, at = Date.now(), reason: UserStopReason = 'stopped'): void {
    const streamingHere = this.running.has(sessionId);
    this.stop(sessionId, reason, at);
    // one only asked for here may be behind one streaming on another instance: that one is stopped,
    // and this one not (stop())
    if (!streamingHere)
      this.bus?.publish(TOPIC, { k: 'stop', session: sessionId, at, reason } satisfies ReplyBusMessage);
  }

  // The user deleted the session (docs/protocol.md, "Session library"): on every instance, its reply
  // in flight stops and is not stored, and no turn of it queued there is asked of the model. Until
  // the library audit only the streaming reply stopped (stored, flagged stopped) and the turn queued
  // behind it was sent to the vendor and its whole reply stored in the deleted session (4 of 4).
  sessionDeleted(sessionId: string, at = Date.now()): void {
    this.gone(sessionId);
    this.bus?.publish(TOPIC, {
      k: 'stop',
      session: sessionId,
      at,
      reason: 'deleted',
    } satisfies ReplyBusMessage);
  }

  private gone(sessionId: string): void {
    this.deleted.add(sessionId);
    this.running.get(sessionId)?.controller.abort('deleted');
    // no copy of it kept here either (no early start from one)
    this.sessions.forget(sessionId);
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
      if (!this.storing(sessionId) && !elsewhere) return;
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
    this.run(input);
  }

  // Starts the model on a user's turn while its message is being stored, when this instance holds
  // the session as last written and nothing else is answering it; the caller confirms or cancels.
  early(input: EarlyRequest): EarlyReply | undefined {
    if (this.draining || this.deleted.has(input.sessionId)) return undefined;
    return this.earlyReplies.start(input);
  }

  // A request for a turn answers the turns before it still open first, after any other instance's
  // reply of the session (ReplyTurns; docs/protocol.md, "Every acked turn ends").
  private run(input: ReplyRequest, early?: EarlyStart): void {
    // stopping: not started here, its turn left for the instance the user comes back to (ReplyDrain;
    // an early one started before SIGTERM is running, and runs within the grace)
    if (!early && this.drained.leaving(input)) return;
    this.holds.add(input.sessionId);
    const regeneration = input.alternativeOf !== undefined ? input.clientId : undefined;
    if (regeneration !== undefined) this.regenerations.add(input.sessionId, regeneration);
    // waits for other instances' replies ended before this request (ReplyTurns.inTurn)
    const waitsBefore = this.holds.waitsEnded(input.sessionId);
    const task = this.queue.run(input.sessionId, async () => {
      try {
        if (early) {
          // another instance answers the session: dropped unseen (the record path asks again, and
          // that request waits its turn)
          if (!early.generation.shown && (await this.leases.answeringElsewhere(input.sessionId)))
            early.generation.controller.abort('cancelled');
          await this.attempts.attempt(input, early);
          return;
        }
        // queued behind a reply that was running at SIGTERM: its turn is left, and the lease let go
        // with its hold below (no longer left to lapse once the instance had exited)
        if (this.drained.leaving(input)) return;
        // a session deleted while this waited in the queue: nothing more of it is asked
        if (this.deleted.has(input.sessionId)) return;
        const turns = await this.turns.inTurn(input, waitsBefore).catch((error: unknown) => {
          this.attempts.report(input, error);
          return [];
        });
        for (const turn of turns) {
          if (this.drained.leaving(turn)) break;
          if (!this.deleted.has(turn.sessionId)) await this.attempts.attempt(turn);
        }
      } finally {
        if (regeneration !== undefined) this.regenerations.delete(input.sessionId, regeneration);
        if (this.holds.done(input.sessionId)) this.stopsBeforeShown.delete(input.sessionId);
      }
    });
    this.drained.track(task, early?.generation);
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

  stop(sessionId: string, reason: StopReason = 'stopped', now = Date.now()): boolean {
    const generation = this.running.get(sessionId);
    if (generation) {
      generation.controller.abort(reason);
      return true;
    }
    // asked for, not yet shown: a user's stop (stop_generation, new_session) sent the instant the
    // message was acked stops it too
    if ((reason !== 'stopped' && reason !== 'new_session') || !this.holds.has(sessionId)) return false;
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
    const shown = this.running.get(sessionId);
    if (shown) {
      if (shown.decidedAt <= at) shown.controller.abort(reason);
      return;
    }
    if (this.holds.has(sessionId)) this.stopsBeforeShown.set(sessionId, at, reason);
  }

  // The end of the grace: every reply still running (shown, or started early) is cut, stored as
  // `reason` says, and every task of the queue and every title is over before this resolves: the
  // store client closes after the shutdown hooks, and nothing of a reply may read or write it then
  // (docs/protocol.md, "Graceful shutdown").
  async stopAll(reason: StopReason): Promise<void> {
    this.drained.begin();
    const titles = this.titles.close();
    const all = [...this.running.values(), ...this.drained.unshown()];
    for (const generation of all) generation.controller.abort(reason);
    await Promise.all([...all.map((generation) => generation.done), titles, this.drained.settled()]);
  }

  // SIGTERM: no reply starts from now on; resolves once the replies running have ended (the ones
  // queued behind them end at once, left), or after `timeoutMs`
  async drain(timeoutMs: number): Promise<void> {
    this.drained.begin();
    await this.drained.settled(timeoutMs);
  }

  // A reply of the session shown here may still be stored: one a takeover cut before its first piece
  // stores nothing (ReplyRecorder). Each reply queued behind a takeover is shown and cut at once, one
  // after the other: counting those kept the lease held nearly all the time while a user wrote on.
  private storing(sessionId: string): boolean {
    const generation = this.running.get(sessionId);
    if (!generation) return false;
    const signal = generation.controller.signal;
    return !(signal.aborted && signal.reason === 'takeover' && generation.text === '');
  }

  // The reply becomes visible: it is the session's reply in flight and its held frames go out.
  private show(generation: Generation): void {
    this.running.set(generation.sessionId, generation);
    generation.shown = true;
    this.stopsBeforeShown.apply(generation);
    const held = generation.held ?? [];
    generation.held = undefined;
    // a takeover came while it waited for its message: none of it is shown, none of it is stored (a
    // user's stop: it is stored empty, flagged stopped, as after a stop before the first token)
    if (this.fences.cut(generation)) {
      generation.text = '';
      return;
    }
    this.holds.sync(generation.sessionId);
    for (const frame of held) this.hub.ephemeral(generation.sessionId, frame);
  }

  // A frame of the reply: held while the reply waits for its message to be stored.
  private emit(generation: Generation, frame: EphemeralFrame): void {
    if (generation.held) generation.held.push(frame);
    else this.hub.ephemeral(generation.sessionId, frame);
  }
}

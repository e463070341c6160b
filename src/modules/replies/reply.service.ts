import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { KeyedMutex } from '../../common/keyed-mutex';
import type { LlmUsage } from '../../infra/llm/llm-provider';
import { LocalReplyLeases, REPLY_LEASES, type ReplyLeases } from '../../infra/lock/reply-lease';
import { toErrorFrame, type EphemeralFrame } from '../../protocol/frames';
import { LlmRegistry, type ModelEntry } from '../llm/llm.registry';
import { ModelStream } from '../llm/model-stream';
import { SessionTitler } from '../llm/session-titler';
import type { MessageRecord, NewMessage, WrittenSession } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from '../realtime/client-hub';
import type { GeneratedFile } from './reply-attachments';
import { ReplyPrompt, type AssembledPrompt } from './reply-prompt';
import { ReplyRecorder, type StopReason } from './reply-recorder';
import { newId } from '../../common/ids';

export interface Generation {
  sessionId: string;
  replyId: string;
  clientId?: string;
  modelId: string;
  text: string;
  controller: AbortController;
  done: Promise<void>;
  finish: () => void;
  // frames of a reply started early, held until its message is confirmed stored (then sent)
  held?: EphemeralFrame[];
  // when the caller read the session as unassisted (before its store reads): a takeover seen on
  // this instance since then fences the reply off (docs/protocol.md, "Takeover handoff")
  decidedAt: number;
  // it became the session's reply in flight (show)
  shown?: boolean;
}

// A reply started before its message was stored (docs/protocol.md, "Early start"): `confirm` with
// the session as the append left it shows the reply when the model saw exactly that history, and
// otherwise drops it (nothing was shown, nothing is stored) so the caller asks as usual.
export interface EarlyReply {
  confirm(written: WrittenSession): boolean;
  cancel(): void;
}

// What a reply is asked for.
export interface ReplyRequest {
  sessionId: string;
  userId: string;
  modelId: string;
  clientId?: string;
  // the session as the message asking for this reply left it, when the caller has it
  written?: WrittenSession;
  // regenerating: the reply group this reply is another alternative of
  alternativeOf?: string;
  // when the caller began to decide that the model answers (Date.now() before it read the session):
  // a takeover started on this instance since then stops the reply before anything of it is shown
  decidedAt?: number;
}

interface EarlyStart {
  generation: Generation;
  decided: Promise<boolean>;
}

// how often settled() looks again
const SETTLE_POLL_MS = 20;
// takeover fences kept: past this many, those older than FENCE_KEPT_MS (no reply decides that long) go
const FENCES_KEPT = 10_000;
const FENCE_KEPT_MS = 60 * 60 * 1000;
const FENCE_OPEN_MS = 30_000;

// a user's stop sent from a device on another instance than the one streaming the reply
const TOPIC = 'replies';
interface ReplyBusMessage {
  k: 'stop';
  session: string;
  // when the user stopped (a reply decided after it is not stopped)
  at: number;
}

// Streams an LLM reply to every device of the session and stores it once complete. Generation is
// independent of sockets: if every device drops, the reply is still stored and replayed later.
@Injectable()
export class ReplyService implements OnModuleInit {
  private readonly logger = new Logger('llm');
  private readonly queue = new KeyedMutex();
  private readonly running = new Map<string, Generation>();
  // replies requested and not yet stored, per session (queued or running), and the reply lease
  // held while there are any
  private readonly pending = new Map<string, { count: number; release: () => void }>();
  // ends the titles still being asked for when the server stops
  private readonly closing = new AbortController();
  // the session's latest takeover as this instance heard of it (TakeoverAnswers): when it started,
  // and when it ended
  // (`takeoverStart`: the takeover's own start, as its admin_leave names it)
  private readonly fences = new Map<
    string,
    { epoch?: number; takeoverStart?: number; startedAt: number; endedAt?: number }
  >();
  // a user's stop that came while the session's reply was asked for and not yet shown (its prompt
  // still being read): when it came. The next reply shown, if decided before then, is stopped at once
  private readonly stopsBeforeShown = new Map<string, number>();

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
  ) {}

  onModuleInit(): void {
    this.bus?.subscribe(TOPIC, (payload) => {
      const message = payload as ReplyBusMessage;
      if (message.k === 'stop') this.stop(message.session, 'stopped', message.at);
    });
  }

  // A user's stop (stop_generation): the reply streaming here, or asked for here and not yet shown;
  // otherwise on whichever instance has it (the user's devices may be on several; docs/protocol.md,
  // "The reply in flight").
  stopEverywhere(sessionId: string, at = Date.now()): void {
    const streamingHere = this.running.has(sessionId);
    this.stop(sessionId, 'stopped', at);
    // one only asked for here may be behind one streaming on another instance (that one is stopped)
    if (!streamingHere)
      this.bus?.publish(TOPIC, { k: 'stop', session: sessionId, at } satisfies ReplyBusMessage);
  }

  // Resolves once no reply of the session shown here is still being stored, and no other instance
  // holds the session's reply lease (each holds it until its replies are stored), or after
  // `timeoutMs`: a takeover logs its admin_join after the replies it cut off are stored
  // (docs/protocol.md, "Takeover handoff"). Replies only queued here are not waited for: the
  // takeover's fence stops each before its first piece shows, and such a reply stores nothing
  // (ReplyRecorder). Waiting for them too let a user who kept writing hold the join back for the
  // whole wait (the admin fuzz counted probes unanswered for 5 s).
  async settled(sessionId: string, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const elsewhere = await this.leases.heldElsewhere(sessionId).catch(() => false);
      if (!this.running.has(sessionId) && !elsewhere) return;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  // the sessions whose reply is streaming on this instance
  streaming(): string[] {
    return [...this.running.keys()];
  }

  // the sessions with a reply queued or running on this instance
  answeringHere(): string[] {
    return [...this.pending.keys()];
  }

  // a reply is queued or running for the session on this instance
  answering(sessionId: string): boolean {
    return this.pending.has(sessionId);
  }

  inFlight(sessionId: string): Generation | undefined {
    return this.running.get(sessionId);
  }

  get activeCount(): number {
    return this.running.size;
  }

  // Replies run one at a time per session, in the order their messages were stored.
  request(input: ReplyRequest): void {
    if (input.written) this.endedInLog(input.written);
    this.run(input);
  }

  // Starts the model on a user's turn while its message is being stored, when this instance holds
  // the session as last written and nothing else is answering it; the caller confirms or cancels.
  early(input: {
    sessionId: string;
    userId: string;
    clientId?: string;
    message: NewMessage;
    decidedAt?: number;
  }): EarlyReply | undefined {
    const { sessionId } = input;
    const snapshot = this.sessions.snapshot(sessionId);
    if (!snapshot || snapshot.user_id !== input.userId || snapshot.assisting_admin_id) return undefined;
    if (this.pending.has(sessionId) || !this.registry.has(snapshot.model_id)) return undefined;
    // a stateful vendor's conversation state is written beside the log, outside its seq
    if (this.registry.entry(snapshot.model_id).provider.stateful) return undefined;
    const seq = snapshot.seq + 1;
    const written: WrittenSession = {
      ...snapshot,
      seq,
      messages: [...snapshot.messages, { ...input.message, seq }],
    };
    let decide!: (go: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (decide = resolve));
    const generation = this.newGeneration(sessionId, snapshot.model_id, input.clientId, input.decidedAt);
    generation.held = [];
    let settled = false;
    const drop = (): void => {
      settled = true;
      generation.controller.abort('cancelled');
      decide(false);
    };
    this.run(
      { sessionId, userId: input.userId, modelId: snapshot.model_id, clientId: input.clientId, written },
      { generation, decided },
    );
    return {
      confirm: (stored) => {
        if (settled) return false;
        this.endedInLog(stored);
        // cut off by a takeover's fence while it waited for its message (a piece came before the
        // write answered): dropped unseen. The caller asks again (false) only when the session as
        // written shows that takeover over (endedInLog: the message after admin_leave on a loaded
        // store); still fenced, the turn is the admin's, and a second request would hold the
        // session's replies while the takeover waits for them to settle
        if (generation.controller.signal.aborted) {
          drop();
          return this.fenced(generation);
        }
        // the model saw exactly this history: nothing was stored in between (any instance), the
        // model is the same and no admin took the session over meanwhile
        if (stored.seq !== seq || stored.model_id !== snapshot.model_id || stored.assisting_admin_id) {
          drop();
          return false;
        }
        settled = true;
        this.show(generation);
        decide(true);
        return true;
      },
      cancel: () => {
        if (!settled) drop();
      },
    };
  }

  private run(input: ReplyRequest, early?: EarlyStart): void {
    // held from the request on: another instance's turn check sees this turn is being answered
    const held = this.pending.get(input.sessionId);
    if (held) held.count++;
    else this.pending.set(input.sessionId, { count: 1, release: this.leases.hold(input.sessionId) });
    void this.queue.run(input.sessionId, async () => {
      try {
        await this.generate(input, early);
      } catch (error) {
        if (early && !(await early.decided)) return;
        this.logger.error(
          { session_id: input.sessionId, event: 'reply_failed', err: describe(error) },
          'reply failed',
        );
        const code = error instanceof DomainException ? error.code : ErrorCode.INTERNAL;
        this.hub.ephemeral(
          input.sessionId,
          toErrorFrame(code, 'The reply could not be generated.', {
            recoverable: true,
            clientId: input.clientId,
          }),
        );
      } finally {
        const held = this.pending.get(input.sessionId);
        if (held && --held.count === 0) {
          this.pending.delete(input.sessionId);
          this.stopsBeforeShown.delete(input.sessionId);
          held.release();
        }
      }
    });
  }

  // An admin took the session over (on this instance or another): the reply in flight stops, and
  // every reply decided before now stops at its next frame, before any more of it reaches a device:
  // one requested while the takeover was being claimed (a turn left unanswered by the admin before,
  // a message stored just before the claim) or whose frames were already on their way.
  takeoverStarted(sessionId: string, epoch?: number, takeoverStart?: number, now = Date.now()): void {
    if (this.fences.size >= FENCES_KEPT)
      for (const [id, fence] of this.fences)
        if (now - fence.startedAt > FENCE_KEPT_MS) this.fences.delete(id);
    const fence = this.fences.get(sessionId);
    // a copy of this takeover's start (the bus hands an instance its own events too) moves nothing
    if (!(fence && epoch !== undefined && fence.epoch === epoch))
      this.fences.set(sessionId, { epoch, takeoverStart, startedAt: now });
    // a takeover's stop, not a user's: a reply stopped before its first piece is not stored (a user's
    // stop stores it empty to close the turn), so the turn stays open for the admin, and for the model
    // once the takeover ends if nobody answered it
    this.stop(sessionId, 'takeover');
  }

  // the end of that takeover: a late copy of an earlier one's end leaves a newer one on
  takeoverClosed(sessionId: string, epoch?: number, now = Date.now()): void {
    const fence = this.fences.get(sessionId);
    if (
      fence &&
      fence.endedAt === undefined &&
      (epoch === undefined || fence.epoch === undefined || fence.epoch <= epoch)
    )
      fence.endedAt = now;
  }

  // The session as a write left it says the takeover fenced here has ended: its admin_leave is the
  // log's last word of a takeover (stored before this write, under the session lock), and nobody
  // assists. On this instance the bus's word of that end may still be on its way; a message stored
  // after the leave is answered by its own reply, not cut off and answered by the turn watch seconds
  // later (docs/protocol.md, "Takeover handoff"). A leave of an earlier takeover opens nothing.
  private endedInLog(written: WrittenSession, now = Date.now()): void {
    const fence = this.fences.get(written.id);
    if (!fence || fence.endedAt !== undefined || fence.takeoverStart === undefined) return;
    if (written.assisting_admin_id) return;
    const last = written.messages.findLast(
      (message) => message.type === 'admin_join' || message.type === 'admin_leave',
    );
    const startedAt = last?.type === 'admin_leave' ? last.metadata?.started_at : undefined;
    if (typeof startedAt === 'string' && Date.parse(startedAt) === fence.takeoverStart) fence.endedAt = now;
  }

  // Whether the reply may no longer show: it was decided before the session's latest takeover
  // started, or the takeover is on (a store write under the session lock makes it visible to appends
  // a little later: a message stored meanwhile was read as unassisted). The second rule lasts
  // FENCE_OPEN_MS at most, in case the takeover's end never reaches this instance (Redis away): a
  // takeover's start is visible to every append long before.
  private fenced(generation: Generation, now = Date.now()): boolean {
    const fence = this.fences.get(generation.sessionId);
    if (!fence) return false;
    if (fence.startedAt >= generation.decidedAt) return true;
    return fence.endedAt === undefined && now - fence.startedAt < FENCE_OPEN_MS;
  }

  stop(sessionId: string, reason: StopReason = 'stopped', now = Date.now()): boolean {
    const generation = this.running.get(sessionId);
    if (generation) {
      generation.controller.abort(reason);
      return true;
    }
    // asked for, not yet shown: a user's stop sent the instant the message was acked stops it too
    if (reason !== 'stopped' || !this.pending.has(sessionId)) return false;
    this.stopsBeforeShown.set(sessionId, now);
    return true;
  }

  async stopAll(reason: StopReason): Promise<void> {
    this.closing.abort();
    const all = [...this.running.values()];
    for (const generation of all) generation.controller.abort(reason);
    await Promise.all(all.map((generation) => generation.done));
  }

  async drain(timeoutMs: number): Promise<void> {
    const all = [...this.running.values()].map((generation) => generation.done);
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  private newGeneration(
    sessionId: string,
    modelId: string,
    clientId?: string,
    decidedAt = Date.now(),
  ): Generation {
    let finish!: () => void;
    const generation: Generation = {
      sessionId,
      replyId: newId(),
      clientId,
      modelId,
      decidedAt,
      text: '',
      controller: new AbortController(),
      done: new Promise<void>((resolve) => (finish = resolve)),
      finish: () => finish(),
    };
    return generation;
  }

  // The reply becomes visible: it is the session's reply in flight and its held frames go out.
  private show(generation: Generation): void {
    this.running.set(generation.sessionId, generation);
    generation.shown = true;
    const stoppedAt = this.stopsBeforeShown.get(generation.sessionId);
    if (stoppedAt !== undefined) {
      this.stopsBeforeShown.delete(generation.sessionId);
      if (stoppedAt >= generation.decidedAt) generation.controller.abort('stopped');
    }
    const held = generation.held ?? [];
    generation.held = undefined;
    // a takeover came while it waited for its message: none of it is shown, none of it is stored (a
    // user's stop: it is stored empty, flagged stopped, as after a stop before the first token)
    if (this.cut(generation)) {
      generation.text = '';
      return;
    }
    for (const frame of held) this.hub.ephemeral(generation.sessionId, frame);
  }

  // A frame of the reply: held while the reply waits for its message to be stored.
  private emit(generation: Generation, frame: EphemeralFrame): void {
    if (generation.held) generation.held.push(frame);
    else this.hub.ephemeral(generation.sessionId, frame);
  }

  // Whether the reply ends here: stopped already, or fenced off by a takeover (and stopped now). A
  // piece of text read from the vendor after that reaches no device and is not stored: the reply
  // stored is what the devices were shown.
  private cut(generation: Generation): boolean {
    const signal = generation.controller.signal;
    if (!signal.aborted && this.fenced(generation)) generation.controller.abort('takeover');
    return signal.aborted;
  }

  // One reply: prompt assembly (ReplyPrompt), the streaming loop (stream), storage (ReplyRecorder).
  private async generate(input: ReplyRequest, early?: EarlyStart): Promise<void> {
    const { sessionId, userId, clientId } = input;
    // a model removed from the settings since the session chose it: answer with the default
    const modelId = this.registry.has(input.modelId) ? input.modelId : this.registry.defaultModelId;
    const entry = this.registry.entry(modelId);
    const generation = early?.generation ?? this.newGeneration(sessionId, modelId, clientId, input.decidedAt);
    try {
      const assembled = await this.prompt.assemble({ ...input, modelId, exact: early !== undefined }, entry);
      if (!early) this.show(generation);
      await this.answer(generation, entry, userId, assembled, input.alternativeOf, early);
    } finally {
      if (this.running.get(sessionId) === generation) this.running.delete(sessionId);
      // a stop that came for this reply before it was shown, which failed before it was (its prompt
      // could not be read), is not left for the next turn's reply (an early one dropped is asked
      // again for the same turn: its stop stands)
      if (!early && !generation.shown) this.stopsBeforeShown.delete(sessionId);
      generation.finish();
    }
  }

  private async answer(
    generation: Generation,
    entry: ModelEntry,
    userId: string,
    assembled: AssembledPrompt,
    alternativeOf: string | undefined,
    early?: EarlyStart,
  ): Promise<void> {
    const { sessionId, clientId, modelId } = generation;
    this.logger.log(
      {
        user_id: userId,
        session_id: sessionId,
        model: modelId,
        reply_id: generation.replyId,
        event: 'llm_request',
        early: early !== undefined,
      },
      'llm request',
    );
    this.emit(generation, { type: 'loading', client_id: clientId, metadata: { loading: true } });
    const streamed = await this.stream(generation, entry, userId, assembled);
    // a reply started early is stored only once its message is (and was shown only then)
    if (early && !(await early.decided)) return;
    const signal = generation.controller.signal;
    const reason = signal.aborted ? (signal.reason as StopReason) : undefined;
    let stored: MessageRecord | undefined;
    try {
      stored = await this.recorder.record({
        sessionId,
        replyId: generation.replyId,
        clientId,
        modelId,
        text: generation.text,
        userId,
        entry,
        prompt: assembled.messages,
        alternativeOf,
        ...streamed,
        reason,
      });
    } finally {
      this.running.delete(sessionId);
      this.emit(generation, { type: 'loading', client_id: clientId, metadata: { loading: false } });
      generation.finish();
    }
    // the first exchange is complete: ask the model for a better name than the heuristic one, in
    // the background (docs/protocol.md, "Session titles"): the session's next reply, queued behind
    // this one, never waits for the title (it waited up to the title's 10 s before)
    const first = !assembled.history.some((message) => message.type === 'ai_response');
    if (stored && !streamed.failure && !reason && first && !alternativeOf) {
      const userText = assembled.prompt.at(-1)?.content ?? '';
      void this.retitle(sessionId, userId, modelId, userText, generation.text);
    }
  }

  // The streaming loop (ModelStream, shared with `@ai` in rooms): deltas to every device as they
  // come, vendor state and files kept for the recorder. Never throws: a failure is returned for the
  // recorder to report.
  private async stream(
    generation: Generation,
    entry: ModelEntry,
    userId: string,
    assembled: AssembledPrompt,
  ): Promise<{
    usage?: LlmUsage;
    files: GeneratedFile[];
    responseMs: number;
    firstTokenMs?: number;
    failure: unknown;
  }> {
    const { sessionId, clientId, modelId } = generation;
    const files: GeneratedFile[] = [];
    let stateWrite: Promise<unknown> | undefined;
    const result = await this.model.run(
      entry,
      {
        messages: assembled.messages,
        signal: generation.controller.signal,
        userId,
        providerState: assembled.providerState,
        since: assembled.since,
      },
      { userId, sessionId },
      {
        onDelta: (text, offset) => {
          if (this.cut(generation)) return;
          generation.text += text;
          this.emit(generation, {
            type: 'ai_response',
            id: generation.replyId,
            client_id: clientId,
            sender: 'ai',
            model_id: modelId,
            metadata: { delta: text, offset, done: false },
          });
        },
        onRetry: ({ attempt, attempts, delayMs }) =>
          this.emit(generation, {
            type: 'loading',
            client_id: clientId,
            metadata: {
              loading: true,
              retrying: true,
              attempt: attempt + 1,
              max_attempts: attempts,
              retry_in_ms: delayMs,
            },
          }),
        onState: (providerState) => {
          // off the token path; awaited before the reply is stored, so the next turn reads it
          stateWrite = this.sessions
            .setProviderState(sessionId, userId, modelId, providerState)
            .catch((error: unknown) =>
              this.logger.warn(
                {
                  session_id: sessionId,
                  reply_id: generation.replyId,
                  event: 'provider_state_failed',
                  err: describe(error),
                },
                'state lost',
              ),
            );
        },
        onFile: (file) => files.push(file),
      },
    );
    await stateWrite;
    const { usage, responseMs, firstTokenMs, failure } = result;
    return { usage, files, responseMs, firstTokenMs, failure };
  }

  private async retitle(
    sessionId: string,
    userId: string,
    modelId: string,
    userText: string,
    replyText: string,
  ): Promise<void> {
    try {
      const name = await this.titler.title({
        modelId,
        userId,
        userText,
        replyText,
        signal: this.closing.signal,
      });
      if (!name || !(await this.sessions.retitle(sessionId, userId, name))) return;
      this.hub.ephemeral(sessionId, { type: 'session_renamed', content: name });
    } catch (error) {
      this.logger.warn(
        { session_id: sessionId, event: 'title_failed', err: describe(error) },
        'title failed',
      );
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

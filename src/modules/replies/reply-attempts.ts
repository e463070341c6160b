import { Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { toErrorFrame, type EphemeralFrame } from '../../protocol/frames';
import type { LlmRegistry, ModelEntry } from '../llm/llm.registry';
import type { ClientHub } from '../realtime/client-hub';
import type { MessageRecord } from '../sessions/session.types';
import type { EarlyStart } from './early-reply';
import { newGeneration, type Generation, type ReplyRequest } from './reply-generation';
import type { AssembledPrompt, ReplyPrompt } from './reply-prompt';
import type { ReplyRecorder, StopReason } from './reply-recorder';
import type { StopsBeforeShown } from './reply-stops';
import type { ReplyStreamer } from './reply-stream';
import type { ReplyTitles } from './reply-titles';
import type { ReplyTurns } from './reply-turns';
import { describeError } from '../../common/logging/logging';

// What an attempt needs of the replies shown on this instance (ReplyService).
export interface ShownReplies {
  // the session's reply in flight here, per session
  readonly running: Map<string, Generation>;
  readonly stopsBeforeShown: StopsBeforeShown;
  // the reply becomes visible
  show(generation: Generation): void;
  // a frame of the reply: held while the reply waits for its message to be stored
  emit(generation: Generation, frame: EphemeralFrame): void;
  // the instance is stopping: a reply not shown yet is not started (ReplyDrain)
  leaving(input: ReplyRequest): boolean;
  // the user deleted the session (DeletedSessions)
  gone(sessionId: string): boolean;
}

// The parts one reply is made of (ReplyService builds them).
export interface ReplyParts {
  prompt: ReplyPrompt;
  streamer: ReplyStreamer;
  recorder: ReplyRecorder;
  titles: ReplyTitles;
  turns: ReplyTurns;
}

// One reply, once its turn in the session's queue came (ReplyService runs them one at a time per
// session): prompt assembly, the streaming loop, storage and the title after the first exchange; a
// reply that could not be generated is reported to the user's devices.
export class ReplyAttempts {
  private readonly logger = new Logger('llm');

  constructor(
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly parts: ReplyParts,
    private readonly shown: ShownReplies,
  ) {}

  async attempt(input: ReplyRequest, early?: EarlyStart): Promise<void> {
    try {
      await this.generate(input, early);
    } catch (error) {
      if (early && !(await early.decided)) return;
      this.report(input, error);
    }
  }

  // a reply that could not be generated: the user's devices are told (its turn stays open)
  report(input: ReplyRequest, error: unknown): void {
    this.logger.error(
      { session_id: input.sessionId, event: 'reply_failed', err: describeError(error) },
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
  }

  // One reply: prompt assembly (ReplyPrompt), the streaming loop (ReplyStreamer), storage (ReplyRecorder).
  private async generate(input: ReplyRequest, early?: EarlyStart): Promise<void> {
    const { sessionId, userId, clientId } = input;
    // a model removed from the settings since the session chose it: answer with the default
    const modelId = this.registry.has(input.modelId) ? input.modelId : this.registry.defaultModelId;
    const entry = this.registry.entry(modelId);
    const generation = early?.generation ?? newGeneration(sessionId, modelId, clientId, input.decidedAt);
    try {
      const assembled = await this.parts.prompt.assemble(
        { ...input, modelId, exact: early !== undefined },
        entry,
      );
      // SIGTERM came while its prompt was read: nothing of it shown, its turn left
      if (!early && this.shown.leaving(input)) return;
      // deleted while its prompt was read (the owner's read of a deleted session finds no turn): no
      // vendor sees any of it (docs/protocol.md, "Session library")
      const noTurn = input.turnSeq !== undefined && assembled.turnSeq === undefined;
      if (!early && (this.shown.gone(sessionId) || noTurn)) return;
      if (!early) this.shown.show(generation);
      // cut by a takeover as it was shown (queued behind the reply the admin's join cut off): nothing
      // of it goes out, not even its loading frame, the model is not asked, nothing is stored, and its
      // turn stays open for the admin. Until a chat audit in session 39 it went on: every socket of
      // the session was shown `loading` after `admin_join` and the vendor was asked all the same (16
      // of 36 rounds with the admin on the other instance; test/e2e/takeover-queued-turn.e2e-spec.ts)
      if (cutByTakeover(generation)) return;
      await this.answer(generation, entry, userId, assembled, input.alternativeOf, early);
    } finally {
      if (this.shown.running.get(sessionId) === generation) this.shown.running.delete(sessionId);
      // a stop that came for this reply before it was shown, which failed before it was (its prompt
      // could not be read), is not left for the next turn's reply (an early one dropped is asked
      // again for the same turn: its stop stands)
      if (!early && !generation.shown) this.shown.stopsBeforeShown.delete(sessionId);
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
    this.shown.emit(generation, { type: 'loading', client_id: clientId, metadata: { loading: true } });
    const streamed = await this.parts.streamer.stream(generation, entry, userId, assembled);
    // a reply started early is stored only once its message is (and was shown only then)
    if (early && !(await early.decided)) return;
    const signal = generation.controller.signal;
    const reason = signal.aborted ? (signal.reason as StopReason) : undefined;
    let stored: MessageRecord | undefined;
    try {
      stored = await this.parts.recorder.record({
        sessionId,
        replyId: generation.replyId,
        clientId,
        modelId,
        text: generation.text,
        userId,
        entry,
        prompt: assembled.messages,
        alternativeOf,
        replyTo: assembled.turnId,
        turnSeq: assembled.turnSeq,
        ...streamed,
        reason,
        signal,
      });
    } finally {
      this.shown.running.delete(sessionId);
      // a reply whose lease was lost says nothing more: another instance answers its turn, and may
      // be showing its own reply now
      if (reason !== 'lease_lost')
        this.shown.emit(generation, { type: 'loading', client_id: clientId, metadata: { loading: false } });
      generation.finish();
    }
    // the first exchange is complete: ask the model for a better name than the heuristic one, in
    // the background (docs/protocol.md, "Session titles"): the session's next reply, queued behind
    // this one, never waits for the title (it waited up to the title's 10 s before)
    if (!stored && streamed.failure !== undefined && !reason && assembled.turnSeq !== undefined)
      this.parts.turns.failed(sessionId, assembled.turnSeq);
    const first = !assembled.history.some((message) => message.type === 'ai_response');
    if (stored && !streamed.failure && !reason && first && !alternativeOf) {
      const userText = assembled.prompt.at(-1)?.content ?? '';
      void this.parts.titles.retitle(sessionId, userId, modelId, userText, generation.text);
    }
  }
}

function cutByTakeover(generation: Generation): boolean {
  const signal = generation.controller.signal;
  return signal.aborted && signal.reason === 'takeover' && generation.text === '';
}

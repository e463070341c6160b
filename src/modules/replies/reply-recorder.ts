import { toErrorFrame } from '../../protocol/frames';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { LlmUsage } from '../../infra/llm/llm-provider';
import { estimateUsage } from '../../infra/llm/tokens';
import type { ContextMessage } from '../llm/context-window';
import { ModelStream } from '../llm/model-stream';
import type { ModelEntry } from '../llm/llm.registry';
import { ChatMetrics } from '../metrics/chat-metrics';
import { TurnAnswered, type MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from '../realtime/client-hub';
import { storedFrame } from '../realtime/frames';
import { DeletedSessions } from './deleted-sessions';
import { ReplyAttachments, type Attachment, type GeneratedFile } from './reply-attachments';
import { describeError } from '../../common/logging/logging';

// 'deleted': its user deleted the session (nothing more is stored there: docs/protocol.md, "Session library");
// 'lease_lost': this instance's reply lease of the session lapsed under it (a paused process) or
// another instance claimed it: that instance answers the turn, nothing more of this reply is shown
// and nothing of it is stored (docs/protocol.md, "Every acked turn ends", the reply lease)
export type StopReason = 'stopped' | 'new_session' | 'shutdown' | 'takeover' | 'deleted' | 'lease_lost';

// How one generation ended, as the reply service saw it.
export interface ReplyOutcome {
  sessionId: string;
  replyId: string;
  clientId?: string;
  modelId: string;
  text: string;
  userId: string;
  entry: ModelEntry;
  prompt: ContextMessage[];
  usage?: LlmUsage;
  files: GeneratedFile[];
  responseMs: number;
  firstTokenMs?: number;
  failure: unknown;
  reason?: StopReason;
  // the reply's own (aborted with a StopReason): a stop while its extras are made ends them
  signal?: AbortSignal;
  // a regenerated reply: the first reply of its turn
  alternativeOf?: string;
  // the user's message it answers (thread.ts reads the reply right after it), and its seq
  replyTo?: string;
  turnSeq?: number;
}

// The end of a reply: the error the client sees when the LLM failed, the stored message (once,
// flagged stopped or interrupted when cut short, with its attachments), metrics and the log line.
@Injectable()
export class ReplyRecorder {
  private readonly logger = new Logger('llm');
  // told of each reply dropped for a lost lease (TurnWatchService watches its session)
  private readonly leaseLostListeners: Array<(sessionId: string, userId: string) => void> = [];

  constructor(
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly metrics: ChatMetrics,
    private readonly model: ModelStream,
    private readonly attachments: ReplyAttachments,
    @Optional() private readonly deleted: DeletedSessions = new DeletedSessions(),
  ) {}

  onLeaseLost(listener: (sessionId: string, userId: string) => void): void {
    this.leaseLostListeners.push(listener);
  }

  async record(outcome: ReplyOutcome): Promise<MessageRecord | undefined> {
    const { failure, reason, entry, userId, sessionId, clientId, text } = outcome;
    const failed = failure !== undefined && !reason;
    const kind = failed ? this.model.failed(entry, { userId, sessionId }, failure, text.length) : undefined;
    // "try again" goes out once the cut-off reply is stored (or was not to be), and the caller clears
    // the reply in the same run of code: a regenerate or edit sent the instant it arrives is taken,
    // not refused as if the reply were still streaming (docs/protocol.md, "Versions")
    try {
      return await this.keep(outcome, failed);
    } finally {
      if (kind !== undefined)
        this.hub.ephemeral(
          sessionId,
          toErrorFrame(
            ErrorCode.LLM_UNAVAILABLE,
            kind === 'unavailable'
              ? 'The assistant is unavailable right now; please try again.'
              : 'The reply was cut off; please try again.',
            { recoverable: true, clientId, retryAfterMs: this.model.retryAfterOf(failure) },
          ),
        );
    }
  }

  private async keep(outcome: ReplyOutcome, failed: boolean): Promise<MessageRecord | undefined> {
    const { reason, responseMs, entry, userId, sessionId, modelId, clientId, text } = outcome;
    // nothing to keep: a failure, a stop before the first token by a takeover or a shutdown (the
    // turn stays open for the admin, or for the instance its user comes back to), or a session its
    // user deleted. A user's stop_generation or new_session closes the turn with what was shown,
    // an empty reply flagged stopped when nothing was: every acked turn ends with a stored reply
    // (docs/protocol.md, "The reply in flight"). Until the library audit a new_session before the
    // first piece stored nothing, and the turn was answered when the user came back to it (6 of 6).
    if (reason === 'deleted') return undefined;
    if (reason === 'lease_lost') {
      this.logger.log(
        { session_id: sessionId, reply_id: outcome.replyId, event: 'reply_dropped_lease_lost' },
        'reply not stored: its reply lease was lost',
      );
      // The turn is answered by whichever instance holds the lease now, or, when none does (nobody
      // took it: the pause went unnoticed elsewhere), by this one's turn watch once its holds are let
      // go. Until the review of session 43 nothing watched it: with the user's socket open the acked
      // turn was never answered (3 of 3 runs).
      for (const listener of this.leaseLostListeners) listener(sessionId, userId);
      return undefined;
    }
    if (text.length === 0 && (failed || (reason !== undefined && !userStop(reason)))) return undefined;
    const usage = outcome.usage ?? estimateUsage(outcome.prompt, text);
    const metadata: Record<string, unknown> = { usage, response_ms: responseMs };
    if (outcome.firstTokenMs !== undefined) metadata.first_token_ms = Math.round(outcome.firstTokenMs);
    const flag = (cut: StopReason | undefined): void => {
      if (cut === 'stopped' || cut === 'new_session' || cut === 'takeover') metadata.stopped = true;
      if (cut === 'shutdown') metadata.interrupted = true;
    };
    flag(reason);
    if (failed) metadata.interrupted = true;
    if (outcome.alternativeOf) metadata.alternative_of = outcome.alternativeOf;
    if (outcome.replyTo) metadata.reply_to = outcome.replyTo;
    // the files kept for this reply (released when it is dropped for certain)
    let kept: Attachment[] = [];
    // extras only for a complete reply: speech of a cut-off answer would mislead
    if (!failed && !reason) {
      const attachments = await this.attachments.collect({
        entry,
        sessionId,
        userId,
        text,
        files: outcome.files,
        signal: outcome.signal,
      });
      kept = attachments;
      if (attachments.length > 0) metadata.attachments = attachments;
      // stopped while its speech was made (the text had all streamed): the speech was cut off, the
      // text is stored without it and flagged as the stop says. Until the uploads audit of session
      // 41 a stop then waited for the whole speech (3 s in the audit, up to SPEECH_TIMEOUT_MS), and
      // the reply was stored with it as if no stop came
      if (outcome.signal?.aborted) flag(outcome.signal.reason as StopReason);
    }
    let stored: MessageRecord;
    try {
      ({ message: stored } = await this.sessions.append(
        sessionId,
        {
          id: outcome.replyId,
          type: 'ai_response',
          sender: 'ai',
          client_id: clientId,
          content: text,
          model_id: modelId,
          metadata,
        },
        // a reply stopped before its first token has no response time to count
        {
          usage,
          response_ms: userStop(reason) && text.length === 0 ? undefined : responseMs,
          countsAsMessage: true,
          answersTurn: outcome.replyTo === undefined ? undefined : outcome.turnSeq,
        },
        // stored only while no admin assists the session: the takeover waits for the replies it cut
        // off before it logs admin_join, but only so long (Redis away, a frozen store); a write that
        // comes after the join is refused (SESSION_LOCKED), never stored over the admin
        // (docs/protocol.md, "Takeover handoff"). And a reply to a turn only while that turn is
        // unanswered (a regeneration answers an answered one: it is another version of its reply).
        // Until the pause audit of session 43 an instance paused past its reply lease resumed,
        // finished the reply the other instance had answered meanwhile and stored it too: two
        // replies to one turn, two `done` (6 of 6 rounds)
        {
          takeover: null,
          unanswered: outcome.replyTo !== undefined && !outcome.alternativeOf ? outcome.turnSeq : undefined,
        },
      ));
    } catch (error) {
      // the turn was answered meanwhile (another instance took the lapsed lease over: a pause here
      // past it): this reply is dropped, and nobody is told (the other instance's reply is the turn's)
      if (error instanceof TurnAnswered) {
        await this.attachments.release(sessionId, kept);
        this.logger.log(
          { session_id: sessionId, reply_id: outcome.replyId, event: 'reply_dropped_turn_answered' },
          'reply not stored: its turn was answered elsewhere',
        );
        return undefined;
      }
      // an admin took the session over before this write came: the turn is the admin's, and nobody
      // is told of a failure (the takeover cut the reply off; it is not stored over the admin)
      if (error instanceof DomainException && error.code === ErrorCode.SESSION_LOCKED) {
        await this.attachments.release(sessionId, kept);
        this.logger.log(
          { session_id: sessionId, reply_id: outcome.replyId, event: 'reply_dropped_for_takeover' },
          'reply not stored: an admin assists the session',
        );
        return undefined;
      }
      // the session is gone (its user deleted it, on any instance): nothing is stored there, and
      // nobody is told (the user's devices moved to a new session); no turn of it is asked for here
      // any more (DeletedSessions)
      if (error instanceof DomainException && error.code === ErrorCode.NOT_FOUND) {
        this.deleted.add(sessionId);
        await this.attachments.release(sessionId, kept);
        this.logger.log(
          { session_id: sessionId, reply_id: outcome.replyId, event: 'reply_dropped_for_deleted' },
          'reply not stored: the session is gone',
        );
        return undefined;
      }
      // (its files stay: a write that failed to answer may still have landed and show them)
      this.logger.error(
        {
          session_id: sessionId,
          reply_id: outcome.replyId,
          event: 'reply_store_failed',
          err: describeError(error),
        },
        'could not store reply',
      );
      const code = error instanceof DomainException ? error.code : ErrorCode.INTERNAL;
      this.hub.ephemeral(
        sessionId,
        toErrorFrame(code, 'The reply could not be saved.', { recoverable: true, clientId }),
      );
      return undefined;
    }
    this.model.settled(entry, { usage, responseMs, outcome: failed ? undefined : reason ? 'stopped' : 'ok' });
    this.metrics.messagesOut.inc({ type: 'ai_response' });
    // A regeneration counts once its reply is stored (cut off or not), once: a resend of it acked on
    // another instance while it streamed asks for no second one. Until the metrics audit of session
    // 42 it counted at each acked request, and such a resend twice (3 of 3).
    if (outcome.alternativeOf) this.metrics.regenerations.inc({ model: modelId });
    this.logger.log(
      {
        user_id: userId,
        session_id: sessionId,
        model: modelId,
        provider: entry.provider.vendor,
        reply_id: outcome.replyId,
        client_id: clientId,
        seq: stored.seq,
        event: 'llm_reply',
        response_ms: responseMs,
        first_token_ms: metadata.first_token_ms,
        tokens: usage.total_tokens,
        stopped: reason ?? null,
      },
      'llm reply stored',
    );
    this.hub.toSession(sessionId, storedFrame(sessionId, stored));
    return stored;
  }
}

// a stop the user asked for: it closes the turn with what was shown (empty when nothing was)
function userStop(reason: StopReason | undefined): boolean {
  return reason === 'stopped' || reason === 'new_session';
}

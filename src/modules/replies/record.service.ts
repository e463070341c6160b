import { Injectable, Logger, Optional } from '@nestjs/common';
import { ChatMetrics } from '../metrics/chat-metrics';
import type { Audience } from '../realtime/client-hub';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { storedFrame } from '../realtime/frames';
import type {
  AppendEffects,
  AppendOptions,
  MessageRecord,
  NewMessage,
  WrittenSession,
} from '../sessions/session.types';
import { DEFAULT_SESSION_NAME } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { ReplyService, type EarlyReply } from './reply.service';
import { TurnWatchService } from './turn-watch.service';
import { newId } from '../../common/ids';

export interface RecordInput {
  sessionId: string;
  // stamped when it is stored (SessionLog.appendLocked)
  message: Omit<NewMessage, 'id' | 'timestamp'>;
  // the sender's socket: it gets the ack and, unless `echo`, no copy of the event
  origin?: Connection;
  echo?: boolean;
  ackMetadata?: Record<string, unknown>;
  // the caller acks (RecordService.ack) once its own steps after the store are done: what a client
  // reads after the ack already shows them (a help request's flags)
  deferAck?: boolean;
  // the session must be this user's
  owner?: string;
  effects?: AppendEffects;
  // who sees the event (default: every socket of the session)
  audience?: Audience;
  // an unnamed session takes its name from this message's text
  name?: boolean;
  // the AI answers this message unless an admin assists the session
  answer?: boolean;
  // stored only within this takeover, or outside any (AppendOptions.takeover)
  takeover?: AppendOptions['takeover'];
  // admin_join / admin_leave: the session's mirror of the takeover changes in the same write
  mirror?: AppendOptions['mirror'];
  // a rule the log must meet when this event is appended to it, under the session lock
  // (AppendOptions.precondition): it throws to refuse the event
  precondition?: AppendOptions['precondition'];
  // once the event is stored (not a resend's stored copy), before any socket hears of it: a
  // takeover's end lets the model's replies show again there (TakeoverLeaseService.complete)
  beforeFanOut?: (stored: MessageRecord) => void;
}

export interface Recorded {
  message: MessageRecord;
  duplicate: boolean;
  session?: WrittenSession;
  // the name the write gave the session (its first message with text)
  named?: string;
}

// The one path every client-visible event of a session takes (docs/protocol.md, "One record path"):
// store under the session lock → ack → fan-out → name → route to the AI unless an admin assists.
// The last decision is made on the session as this very write left it (read under the same lock),
// never on an earlier read: a takeover that started meanwhile is seen.
@Injectable()
export class RecordService {
  private readonly logger = new Logger('chat');

  constructor(
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly replies: ReplyService,
    private readonly turns: TurnWatchService,
    @Optional() private readonly metrics?: ChatMetrics,
  ) {}

  async record(input: RecordInput): Promise<Recorded> {
    const { sessionId } = input;
    // before the append reads whether an admin assists: a takeover from now on fences the reply
    const decidedAt = Date.now();
    // the time an early reply's history gives it; the store's is the write's
    const message: NewMessage = { ...input.message, id: newId(), timestamp: new Date() };
    // the model is asked while the message is stored, when this instance can tell what it will see;
    // its reply is shown only once the store confirms that history (docs/protocol.md, "Early start").
    // Not for an event with a rule (an edit): the rule may refuse it, and asks whether a reply of the
    // session is in flight, which its own early one would be
    const early =
      input.answer && input.owner !== undefined && !input.precondition
        ? this.replies.early({
            sessionId,
            userId: input.owner,
            clientId: message.client_id,
            message,
            decidedAt,
          })
        : undefined;
    try {
      // the first message with text names the session in the same write, when this instance knows
      // the session has no name yet (otherwise announce names it with a write of its own)
      const recorded = await this.sessions.append(sessionId, message, input.effects, {
        owner: input.owner,
        withSession: true,
        nameFrom: input.name ? message.content : undefined,
        takeover: input.takeover,
        mirror: input.mirror,
        precondition: input.precondition,
      });
      return await this.announce(input, recorded, early, decidedAt);
    } catch (error) {
      // a failed append may still have been stored: a store that timed out can run the insert once it
      // answers again. If it did, the turn is answered like one whose reply died (TurnWatchService)
      this.watchTurn(input);
      throw error;
    } finally {
      // dropped unless the append confirmed it (a failed append, a duplicate, anything thrown)
      early?.cancel();
    }
  }

  // The ack of a stored event to the socket that sent it.
  ack(
    origin: Connection,
    sessionId: string,
    message: MessageRecord,
    metadata?: Record<string, unknown>,
  ): void {
    this.hub.send(origin, {
      type: 'ack',
      session_id: sessionId,
      seq: message.seq,
      client_id: message.client_id,
      id: message.id,
      ...(metadata ? { metadata } : {}),
    });
  }

  private async announce(
    input: RecordInput,
    recorded: Recorded,
    early?: EarlyReply,
    decidedAt?: number,
  ): Promise<Recorded> {
    const { sessionId } = input;
    const { message, duplicate, session } = recorded;
    if (!duplicate) input.beforeFanOut?.(message);
    if (input.origin && !input.deferAck) this.ack(input.origin, sessionId, message, input.ackMetadata);
    const frame = storedFrame(sessionId, message);
    const except = input.echo ? undefined : input.origin;
    if (duplicate) {
      this.logger.log(
        { session_id: sessionId, event: 'resend_stored', seq: message.seq, client_id: message.client_id },
        'resend of a stored event',
      );
      // A resend of a stored event: its first copy's instance may have died (or the store run an
      // append this server had given up on) before anyone was sent it or its reply was asked for. The
      // copy goes out again (a socket that has its seq drops it), and the turn is watched: answered
      // already, being answered (the watch sees the reply lease), or answered now.
      this.hub.toSession(sessionId, frame, except, input.audience);
      this.watchTurn(input);
      return recorded;
    }
    if (!session) return recorded;
    this.logger.log(
      {
        session_id: sessionId,
        event: 'recorded',
        type: message.type,
        sender: message.sender,
        seq: message.seq,
        client_id: message.client_id,
      },
      'event stored',
    );
    this.hub.toSession(sessionId, frame, except, input.audience);
    // every stored event sent to the session's clients counts once, where it was stored (an AI
    // reply where ReplyRecorder stores it). Until the metrics audit of session 42 only AI replies
    // counted, under a help text that said "Stored messages sent to clients" (docs/operations.md)
    this.metrics?.messagesOut.inc({ type: message.type });
    const answered = early?.confirm(session) ?? false;
    if (input.answer && !answered && !session.assisting_admin_id)
      this.replies.request({
        sessionId,
        userId: session.user_id,
        modelId: session.model_id,
        clientId: message.client_id,
        written: session,
        turnSeq: message.seq,
        decidedAt,
        askedHere: true,
      });
    // the first message with text names the session, even after a bare photo (not only message 1):
    // named by the append itself, or else named after the reply is asked for (a store write the
    // model need not wait for)
    const name =
      recorded.named ??
      (input.name && session.name === DEFAULT_SESSION_NAME && message.content
        ? await this.sessions.nameFromFirstMessage(session, message.content)
        : undefined);
    // with the client_id of the message that named it (CONTRACT §2: echoed on every message it
    // causes; until the contract audit of session 44 it carried none)
    if (name)
      this.hub.toSession(sessionId, {
        type: 'session_renamed',
        session_id: sessionId,
        seq: this.sessions.lastSeq(sessionId) ?? message.seq,
        client_id: message.client_id,
        content: name,
      });
    return recorded;
  }

  // docs/protocol.md, "Every acked turn ends"
  private watchTurn(input: RecordInput): void {
    if (input.answer && input.owner !== undefined) this.turns.watch(input.sessionId, input.owner);
  }
}

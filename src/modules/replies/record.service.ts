import { Injectable, Logger } from '@nestjs/common';
import type { Audience } from '../realtime/client-hub';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { storedFrame } from '../realtime/frames';
import type {
  AppendEffects,
  MessageRecord,
  NewMessage,
  SessionWithMessages,
} from '../sessions/session.types';
import { DEFAULT_SESSION_NAME } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { ReplyService } from './reply.service';

export interface RecordInput {
  sessionId: string;
  message: Omit<NewMessage, 'id'>;
  // the sender's socket: it gets the ack and, unless `echo`, no copy of the event
  origin?: Connection;
  echo?: boolean;
  ackMetadata?: Record<string, unknown>;
  // the session must be this user's
  owner?: string;
  effects?: AppendEffects;
  // who sees the event (default: every socket of the session)
  audience?: Audience;
  // an unnamed session takes its name from this message's text
  name?: boolean;
  // the AI answers this message unless an admin assists the session
  answer?: boolean;
}

export interface Recorded {
  message: MessageRecord;
  duplicate: boolean;
  session?: SessionWithMessages;
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
  ) {}

  async record(input: RecordInput): Promise<Recorded> {
    const { sessionId } = input;
    const recorded = await this.sessions.append(sessionId, input.message, input.effects, {
      owner: input.owner,
      withSession: true,
    });
    const { message, duplicate, session } = recorded;
    if (input.origin)
      this.hub.send(input.origin, {
        type: 'ack',
        session_id: sessionId,
        seq: message.seq,
        client_id: message.client_id,
        id: message.id,
        ...(input.ackMetadata ? { metadata: input.ackMetadata } : {}),
      });
    if (duplicate || !session) return recorded;
    this.logger.log(
      {
        session_id: sessionId,
        event: 'recorded',
        type: message.type,
        sender: message.sender,
        seq: message.seq,
      },
      'event stored',
    );
    this.hub.toSession(
      sessionId,
      storedFrame(sessionId, message),
      input.echo ? undefined : input.origin,
      input.audience,
    );
    // the first message with text names the session, even after a bare photo (not only message 1)
    if (input.name && session.name === DEFAULT_SESSION_NAME && message.content) {
      const name = await this.sessions.nameFromFirstMessage(session, message.content);
      if (name)
        this.hub.toSession(sessionId, {
          type: 'session_renamed',
          session_id: sessionId,
          seq: this.sessions.lastSeq(sessionId) ?? message.seq,
          content: name,
        });
    }
    if (input.answer && !session.assisting_admin_id)
      this.replies.request({
        sessionId,
        userId: session.user_id,
        modelId: session.model_id,
        clientId: message.client_id,
        written: session,
      });
    return recorded;
  }
}

import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { ClientMessageOf } from '../../protocol/frames';
import { buildThread, replyGroup, versionRoot } from '../../protocol/thread';
import { LlmRegistry } from '../llm/llm.registry';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import type { MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { RecordService } from './record.service';
import { ReplyService } from './reply.service';

// Versions of the newest turn (docs/protocol.md, "Versions"): regenerate the last reply (an
// alternative of the same turn), edit the last message (a new version, answered again), choose
// which alternative the conversation goes on from. The log only grows: nothing is overwritten.
@Injectable()
export class TurnVersionsService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly records: RecordService,
    private readonly replies: ReplyService,
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly metrics: ChatMetrics,
  ) {}

  async regenerate(connection: Connection, message: ClientMessageOf<'regenerate'>): Promise<void> {
    // before the session is read: a takeover from then on fences the new reply off (ReplyService)
    const decidedAt = Date.now();
    const { sessionId, session, current } = await this.read(connection);
    if (session.assisting_admin_id)
      throw new DomainException(ErrorCode.SESSION_LOCKED, 'A person is answering this conversation.');
    this.notAnswering(sessionId);
    const last = lastTurnEvent(current);
    if (!last || last.type !== 'ai_response')
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'There is no reply to regenerate.');
    const modelId = message.model_id ?? session.model_id;
    if (!this.registry.has(modelId))
      throw new DomainException(ErrorCode.UNKNOWN_MODEL, `Unknown model "${modelId}".`);
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: session.seq,
      client_id: message.client_id,
    });
    this.replies.request({
      sessionId,
      userId: session.user_id,
      modelId,
      clientId: message.client_id,
      alternativeOf: replyGroup(last),
      decidedAt,
    });
    // counted when requested (acked), whether or not the new reply completes
    this.metrics.regenerations.inc({ model: modelId });
  }

  async edit(connection: Connection, message: ClientMessageOf<'edit_message'>): Promise<void> {
    const { sessionId, current } = await this.read(connection);
    this.notAnswering(sessionId);
    const lastTyped = current.findLast((event) => event.type === 'user_message' && event.sender === 'user');
    const target = current.find((event) => event.id === message.id);
    if (
      !lastTyped ||
      !target ||
      target.type !== 'user_message' ||
      versionRoot(target) !== versionRoot(lastTyped)
    )
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'Only your last message can be edited.');
    await this.records.record({
      sessionId,
      origin: connection,
      owner: connection.principal.userId,
      message: {
        type: 'user_message',
        sender: 'user',
        client_id: message.client_id,
        content: message.content,
        timestamp: new Date(),
        metadata: { edit_of: versionRoot(lastTyped) },
      },
      answer: true,
    });
  }

  async select(connection: Connection, message: ClientMessageOf<'reply_select'>): Promise<void> {
    const { sessionId, log } = await this.read(connection);
    const reply = log.find((event) => event.id === message.id && event.type === 'ai_response');
    if (!reply) throw new DomainException(ErrorCode.NOT_FOUND, 'Reply not found.');
    await this.records.record({
      sessionId,
      origin: connection,
      owner: connection.principal.userId,
      message: {
        type: 'reply_select',
        sender: 'user',
        client_id: message.client_id,
        timestamp: new Date(),
        metadata: { reply_id: reply.id, alternative_of: replyGroup(reply) },
      },
      effects: { countsAsMessage: false },
    });
  }

  private async read(connection: Connection) {
    const sessionId = connection.sessionId;
    const session = await this.sessions.withMessages(sessionId, {
      userId: connection.principal.userId,
      isAdmin: false,
    });
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    return { sessionId, session, log: session.messages, current: buildThread(session.messages).current };
  }

  // a new version while the turn is still being answered would race the reply being streamed (the
  // title asked for after a first reply may still run: a reply queued behind it waits its turn)
  // streaming, or asked for and not yet shown (its prompt being read): the ack of its message is
  // out either way
  private notAnswering(sessionId: string): void {
    if (this.replies.answering(sessionId))
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'Wait for the reply, or stop it first.');
  }
}

// The newest event that is part of a turn (a user's message or a reply), skipping notices.
function lastTurnEvent(current: MessageRecord[]): MessageRecord | undefined {
  return current.findLast(
    (event) =>
      event.type === 'ai_response' ||
      event.type === 'user_message' ||
      event.type === 'voice_message' ||
      (event.type === 'file_upload' && event.content !== undefined),
  );
}

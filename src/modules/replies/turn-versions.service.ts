import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { ClientMessageOf } from '../../protocol/frames';
import { buildThread, replyGroup, versionRoot } from '../../protocol/thread';
import { LlmRegistry } from '../llm/llm.registry';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import type { MessageRecord, NewMessage } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { RecordService } from './record.service';
import { storedRegeneration } from './regenerations';
import { STOPPING_MESSAGE } from './reply-drain';
import { notAnswered, replyInFlight } from './reply-in-flight';
import { ReplyService } from './reply.service';

const REDIS_AWAY_MESSAGE = 'Regenerating is unavailable for a moment; please try again shortly.';

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
  ) {}

  async regenerate(connection: Connection, message: ClientMessageOf<'regenerate'>): Promise<void> {
    // before the session is read: a takeover from then on fences the new reply off (ReplyService)
    const decidedAt = Date.now();
    // a resend (same client_id) of a regenerate still running here is that one: acked again, not
    // refused as a reply in flight (docs/protocol.md, "Versions"). Asked before the log is read: one
    // that ends meanwhile is in the log read next
    if (this.ackedRunning(connection, message.client_id)) return;
    const { sessionId, session, log, current } = await this.read(connection);
    // a resend of one stored (here or on another instance): the stored reply's ack, nothing asked
    const stored = storedRegeneration(log, message.client_id);
    if (stored) {
      this.hub.send(connection, {
        type: 'ack',
        session_id: sessionId,
        seq: stored.seq,
        client_id: message.client_id,
        id: stored.id,
      });
      return;
    }
    if (session.assisting_admin_id)
      throw new DomainException(ErrorCode.SESSION_LOCKED, 'A person is answering this conversation.');
    // what the user adds, held to MAX_SESSION_BYTES before the model is asked: its reply, once
    // streamed, is stored like any reply. Until then it was held to the bound at its store write,
    // refused SESSION_FULL after streaming whole (docs/protocol.md, "Every acked turn ends"). Asked
    // before the rules below, which then run with no wait up to the request (a second regenerate
    // finds this one in flight)
    if (await this.sessions.atSizeBound(sessionId)) throw new DomainException(ErrorCode.SESSION_FULL);
    // the first copy of a resend may have been asked for while this one waited (a device cut 0–40 ms
    // after sending it, the resend from its next socket: versions-races.e2e-spec.ts)
    if (this.ackedRunning(connection, message.client_id)) return;
    // this instance's replies only (docs/protocol.md, "Versions"): a reply in flight on another
    // instance shows in the log (the newest turn without its reply), unless it is a regeneration;
    // this one then runs after it, in turn, as another alternative, and a resend of that one is acked
    // and asks nothing (ReplyTurns), which the reply lease would refuse. An edit asks every instance
    if (this.replies.answering(sessionId)) throw replyInFlight();
    const last = lastTurnEvent(current);
    if (!last || last.type !== 'ai_response')
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'There is no reply to regenerate.');
    // a model the client names must be one there is; the session's own, removed from the settings
    // since it chose it, gives way to the default, as a message's reply does (ReplyAttempts). Until a
    // vendors audit in session 40 such a regenerate was refused UNKNOWN_MODEL while a message in
    // the same session was answered (test/e2e/model-removed-regenerate.e2e-spec.ts)
    if (message.model_id !== undefined && !this.registry.has(message.model_id))
      throw new DomainException(ErrorCode.UNKNOWN_MODEL, `Unknown model "${message.model_id}".`);
    const chosen = message.model_id ?? session.model_id;
    const modelId = this.registry.has(chosen) ? chosen : this.registry.defaultModelId;
    // the instance is stopping: no reply starts here, and a regenerate is not sent again by its
    // client once acked (docs/protocol.md, "Graceful shutdown")
    if (this.replies.draining)
      throw new DomainException(ErrorCode.LLM_UNAVAILABLE, STOPPING_MESSAGE, { recoverable: true });
    // Redis away past the 10 s a reply waits for it: a regenerate never runs without Redis (a copy
    // of it may run on another instance unseen: ReplyTurns), so acked now it would wait for Redis
    // without bound, and be left acked and unanswered if this instance died meanwhile
    // (docs/protocol.md, "Versions"; test/e2e/turns-redis-away.e2e-spec.ts)
    if (this.replies.leasesOut)
      throw new DomainException(ErrorCode.LLM_UNAVAILABLE, REDIS_AWAY_MESSAGE, { recoverable: true });
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: session.seq,
      client_id: message.client_id,
    });
    // a copy of it that reached another instance meanwhile is answered once: the request reads the
    // log again once no other instance answers the session (ReplyTurns)
    this.replies.request({
      sessionId,
      userId: session.user_id,
      modelId,
      clientId: message.client_id,
      alternativeOf: replyGroup(last),
      decidedAt,
      askedHere: true,
    });
  }

  // A resend (same client_id) of a regenerate running here is that one: acked again, not refused as
  // a reply in flight (docs/protocol.md, "Versions")
  private ackedRunning(connection: Connection, clientId: string | undefined): boolean {
    if (clientId === undefined || !this.replies.regenerating(connection.sessionId, clientId)) return false;
    this.hub.send(connection, {
      type: 'ack',
      session_id: connection.sessionId,
      seq: this.sessions.lastSeq(connection.sessionId),
      client_id: clientId,
    });
    return true;
  }

  async edit(connection: Connection, message: ClientMessageOf<'edit_message'>): Promise<void> {
    const sessionId = connection.sessionId;
    const owner = connection.principal.userId;
    const edit: Omit<NewMessage, 'id' | 'timestamp'> = {
      type: 'user_message',
      sender: 'user',
      client_id: message.client_id,
      content: message.content,
    };
    // a resend (same client_id) of an edit already stored gets the stored copy's ack, whatever the
    // conversation is now (the append finds it: RecordService); until the races audit it was checked
    // against the conversation first and refused INVALID_MESSAGE (docs/protocol.md, "Versions")
    let resent = await this.sessions.sent(sessionId, edit, owner);
    if (!resent) {
      // asked early, outside the lock: most refusals cost no lock and no read
      if (this.replies.answering(sessionId)) throw replyInFlight();
      const { log, current } = await this.read(connection);
      // stored by another instance since the copy `sent` looked in (the append finds it too)
      resent = log.find((event) => event.sender === 'user' && event.client_id === edit.client_id);
      if (!resent) edit.metadata = { edit_of: editTarget(current, message.id) };
    }
    const root = edit.metadata?.edit_of;
    await this.records.record({
      sessionId,
      origin: connection,
      owner,
      message: edit,
      answer: true,
      // under the session lock, on the log this very append extends (docs/protocol.md, "Versions"):
      // - still the user's last typed message: checked only on the read above, an edit racing a
      //   message stored on another instance was stored after it, and that message left the
      //   conversation;
      // - no reply of the session being made on any instance, nor about to be (reply-in-flight.ts):
      //   until the library audit only this instance's were asked about, and an edit from the other
      //   instance's device was stored while the turn's reply streamed, which was stored after it
      // (a resend is found stored by the append, before any rule)
      precondition: resent
        ? undefined
        : async (log) => {
            if (editTarget(buildThread(log).current, message.id) !== root) throw notLast();
            await notAnswered(sessionId, log, this.replies);
          },
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
}

// The first version of the message an edit replaces: `id` must be the user's last typed message
// (or a version of it) in the conversation as it reads now (`current`).
function editTarget(current: MessageRecord[], id: string): string {
  const lastTyped = current.findLast((event) => event.type === 'user_message' && event.sender === 'user');
  const target = current.find((event) => event.id === id);
  if (
    !lastTyped ||
    !target ||
    target.type !== 'user_message' ||
    versionRoot(target) !== versionRoot(lastTyped)
  )
    throw notLast();
  return versionRoot(lastTyped);
}

function notLast(): DomainException {
  return new DomainException(ErrorCode.INVALID_MESSAGE, 'Only your last message can be edited.');
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

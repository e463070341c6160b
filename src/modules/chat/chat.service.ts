import { Inject, Injectable, Logger } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { SETTINGS, type Settings } from '../../config/settings';
import { TokenService } from '../../common/auth/token.service';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { LlmRegistry } from '../llm/llm.registry';
import { ChatMetrics } from '../metrics/chat-metrics';
import type { SessionRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from './client-hub';
import type { Connection } from './connection';
import type { ClientEnvelopeDto } from './dto/client-envelope.dto';
import { storedFrame, type ServerFrame } from './frames';
import { ReplyService } from './reply.service';
import { VoiceService } from './voice.service';
import { HelpService } from '../takeover/help.service';
import { TakeoverService } from '../takeover/takeover.service';
import { AttachmentsService } from '../uploads/attachments.service';

const RATE_WINDOW_MS = 1000;

// What each client message does (CONTRACT §2). The gateway parses and calls in here.
@Injectable()
export class ChatService {
  private readonly logger = new Logger('chat');

  constructor(
    private readonly sessions: SessionsService,
    private readonly replies: ReplyService,
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly tokens: TokenService,
    private readonly metrics: ChatMetrics,
    private readonly takeover: TakeoverService,
    private readonly help: HelpService,
    @Inject(ThrottlerStorage) private readonly throttler: ThrottlerStorage,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly attachments: AttachmentsService,
    private readonly voice: VoiceService,
  ) {}

  // Binds a new socket to its session, replays what it missed after last_seq, then goes live.
  async connect(connection: Connection, requestedSessionId?: string, lastSeq?: number): Promise<void> {
    const { session, restored, replaced } = await this.sessions.open(
      connection.principal.userId,
      requestedSessionId,
      this.registry.defaultModelId,
    );
    this.sessions.remember(session);
    connection.sessionId = session.id;
    connection.pending = [];
    this.hub.add(connection);
    if (replaced) this.moveUserTo(connection, session, true);
    this.hub.send(connection, this.statusFrame(connection, session, restored));
    const replayed =
      lastSeq !== undefined ? await this.sessions.messagesAfter(session.id, session.user_id, lastSeq) : [];
    let maxSeq = lastSeq ?? session.seq;
    for (const message of replayed) {
      this.hub.send(connection, storedFrame(session.id, message));
      maxSeq = Math.max(maxSeq, message.seq);
    }
    const generation = this.replies.inFlight(session.id);
    const snapshot = generation?.text ?? '';
    if (generation && snapshot.length > 0) {
      this.hub.send(connection, {
        type: 'ai_response',
        session_id: session.id,
        seq: maxSeq,
        id: generation.replyId,
        client_id: generation.clientId,
        sender: 'ai',
        model_id: generation.modelId,
        metadata: { delta: snapshot, offset: 0, done: false, resumed: true },
      });
    }
    // flush what arrived meanwhile, minus what the replay (up to maxSeq) or the snapshot covered
    const pending = connection.pending.filter(
      (frame) => !(isDelta(frame) && frame.id === generation?.replyId && deltaEnd(frame) <= snapshot.length),
    );
    this.hub.resume(connection, maxSeq, pending);
    this.metrics.connections.set(this.hub.count);
    this.logger.log(
      {
        user_id: connection.principal.userId,
        session_id: session.id,
        event: 'connect',
        restored,
        replayed: replayed.length,
      },
      'client connected',
    );
  }

  disconnect(connection: Connection): void {
    if (!this.hub.remove(connection)) return;
    this.takeover.disconnected(connection);
    this.metrics.connections.set(this.hub.count);
    // the reconnect window counts from the moment the last device left
    if (!this.hub.hasSession(connection.sessionId))
      void this.sessions.touch([connection.sessionId]).catch(() => undefined);
    this.logger.log(
      { user_id: connection.principal.userId, session_id: connection.sessionId, event: 'disconnect' },
      'client disconnected',
    );
  }

  async handle(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    this.metrics.messagesIn.inc({ type: message.type });
    if (message.type !== 'auth_refresh' && message.type !== 'typing_indicator')
      await this.checkRate(connection);
    switch (message.type) {
      case 'user_message':
        return this.userMessage(connection, message);
      case 'model_select':
        return this.modelSelect(connection, message);
      case 'new_session':
        return this.newSession(connection, message);
      case 'stop_generation':
        this.replies.stop(connection.sessionId);
        return;
      case 'auth_refresh':
        return this.authRefresh(connection, message);
      case 'help_request':
        return this.help.request(connection, message);
      case 'admin_join':
        return this.takeover.join(connection, message.session_id as string, message.client_id);
      case 'admin_leave':
        return this.takeover.leave(connection, message.session_id as string, message.client_id);
      case 'typing_indicator':
        // relayed to the other human side only (user ↔ admin)
        this.hub.toSession(
          connection.sessionId,
          this.frame(connection.sessionId, {
            type: 'typing_indicator',
            sender: connection.principal.isAdmin ? 'admin' : 'user',
            metadata: { typing: message.metadata?.typing === true },
          }),
          connection,
          connection.principal.isAdmin ? 'users' : 'admins',
        );
        return;
      case 'file_upload': {
        // the attachment logic lives in the uploads module; here only the frames it causes
        const sessionId = connection.sessionId;
        const attached = await this.attachments.attach({
          sessionId,
          userId: connection.principal.userId,
          fileId: message.file_id as string,
          clientId: message.client_id,
          caption: message.content,
        });
        const stored = attached.message;
        this.hub.send(connection, {
          type: 'ack',
          session_id: sessionId,
          seq: stored.seq,
          client_id: stored.client_id,
          id: stored.id,
        });
        if (attached.duplicate) return;
        this.hub.toSession(sessionId, storedFrame(sessionId, stored), connection);
        // a caption asks about the file: answered like a typed message, unless an admin is assisting
        if (stored.content && !attached.session.assisting_admin_id)
          this.replies.request({
            sessionId,
            userId: connection.principal.userId,
            modelId: attached.session.model_id,
            clientId: stored.client_id,
            afterSeq: stored.seq,
          });
        return;
      }
      case 'voice_message':
        // transcribed, stored and answered by the voice service
        return this.voice.handle(connection, message);
    }
  }

  private async userMessage(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    // an admin's socket bound to a session it took over speaks there, as sender admin
    if (this.takeover.isAssisting(connection)) return this.takeover.adminMessage(connection, message);
    const sessionId = connection.sessionId;
    const { userId } = connection.principal;
    const session = await this.sessions.getOwned(sessionId, userId);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    const { message: stored, duplicate } = await this.sessions.append(sessionId, {
      type: 'user_message',
      sender: 'user',
      client_id: message.client_id,
      content: message.content as string,
      timestamp: new Date(),
    });
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: stored.seq,
      client_id: stored.client_id,
      id: stored.id,
    });
    if (duplicate) return;
    this.logger.log(
      { user_id: userId, session_id: sessionId, event: 'message', seq: stored.seq },
      'user message stored',
    );
    this.hub.toSession(sessionId, storedFrame(sessionId, stored), connection);
    if (session.message_count === 0) {
      const name = await this.sessions.nameFromFirstMessage(session, stored.content as string);
      if (name)
        this.hub.toSession(sessionId, this.frame(sessionId, { type: 'session_renamed', content: name }));
    }
    // during a takeover the admin answers (the message already reached them), not the LLM
    if (this.takeover.isAssisted(session)) return;
    this.replies.request({
      sessionId,
      userId,
      modelId: session.model_id,
      clientId: stored.client_id,
      afterSeq: stored.seq,
    });
  }

  private async modelSelect(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    const modelId = message.model_id as string;
    if (!this.registry.has(modelId))
      throw new DomainException(ErrorCode.UNKNOWN_MODEL, `Unknown model "${modelId}".`);
    await this.sessions.setModel(connection.sessionId, modelId);
    this.hub.send(
      connection,
      this.frame(connection.sessionId, { type: 'ack', client_id: message.client_id, model_id: modelId }),
    );
    this.hub.toSession(
      connection.sessionId,
      this.frame(connection.sessionId, { type: 'model_select', model_id: modelId }),
    );
  }

  private async newSession(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    const previous = connection.sessionId;
    this.replies.stop(previous, 'new_session');
    const { session } = await this.sessions.startNew(
      connection.principal.userId,
      this.registry.defaultModelId,
    );
    this.sessions.remember(session);
    this.sessions.forget(previous);
    this.hub.send(connection, this.frame(session.id, { type: 'ack', client_id: message.client_id }));
    this.moveUserTo(connection, session, false);
  }

  // Every device of the user, on every instance, follows the user's one active session.
  private moveUserTo(origin: Connection, session: SessionRecord, skipOrigin: boolean): void {
    this.hub.moveUser(origin, (connection) => this.statusFrame(connection, session, false), skipOrigin);
  }

  private authRefresh(connection: Connection, message: ClientEnvelopeDto): void {
    const principal = this.tokens.verify(message.content);
    if (principal.userId !== connection.principal.userId) {
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'The new token is for another user.');
    }
    connection.principal = principal;
    this.hub.send(
      connection,
      this.frame(connection.sessionId, {
        type: 'ack',
        client_id: message.client_id,
        metadata: { token_expires_at: new Date(principal.expiresAt).toISOString() },
      }),
    );
  }

  private async checkRate(connection: Connection): Promise<void> {
    const limit = this.settings.rateLimitMessagesPerSecond;
    const record = await this.throttler.increment(
      `ws:${connection.principal.userId}`,
      RATE_WINDOW_MS,
      limit,
      0,
      'ws',
    );
    if (record.totalHits > limit) {
      throw new DomainException(ErrorCode.RATE_LIMITED, 'Too many messages; slow down.', {
        retryAfterMs: Math.max(100, record.timeToExpire * 1000),
      });
    }
  }

  statusFrame(connection: Connection, session: SessionRecord, restored: boolean): ServerFrame {
    const metadata: Record<string, unknown> = {
      status: 'connected',
      restored,
      models: this.registry.models,
      model_id: session.model_id,
      name: session.name,
      token_expires_at: new Date(connection.principal.expiresAt).toISOString(),
    };
    // the name stays on the session after a takeover; the lease holder marks one in progress
    if (session.assisting_admin_id && session.assisting_admin_name)
      metadata.assisting_admin = session.assisting_admin_name;
    return { type: 'connection_status', session_id: session.id, seq: session.seq, metadata };
  }

  frame(sessionId: string, frame: ServerFrame): ServerFrame {
    return { ...frame, session_id: sessionId, seq: this.sessions.lastSeq(sessionId) ?? 0 };
  }

  // keeps sessions with live sockets from being swept, then ends idle ones
  async sweep(): Promise<void> {
    await this.sessions.touch(this.hub.sessionIds());
    await this.sessions.sweepIdle();
  }
}

function isDelta(frame: ServerFrame): boolean {
  return frame.type === 'ai_response' && frame.metadata?.done === false;
}

function deltaEnd(frame: ServerFrame): number {
  const offset = typeof frame.metadata?.offset === 'number' ? frame.metadata.offset : 0;
  const delta = typeof frame.metadata?.delta === 'string' ? frame.metadata.delta : '';
  return offset + delta.length;
}

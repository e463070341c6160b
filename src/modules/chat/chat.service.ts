import { Inject, Injectable, Logger } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { spendBudget } from '../../infra/bus/cell-rate.storage';
import { SETTINGS, type Settings } from '../../config/settings';
import { TokenService } from '../../common/auth/token.service';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { LlmRegistry } from '../llm/llm.registry';
import { ChatMetrics } from '../metrics/chat-metrics';
import { adminKeyOf } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from '../realtime/client-hub';
import { ConnectionsService } from './connections.service';
import type { Connection } from '../realtime/connection';
import type { ClientMessage, ClientMessageOf } from '../../protocol/frames';
import type { ServerFrame } from '../realtime/frames';
import { RecordService } from '../replies/record.service';
import { ReplyService } from '../replies/reply.service';
import { TurnVersionsService } from '../replies/turn-versions.service';
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
    private readonly connections: ConnectionsService,
    private readonly records: RecordService,
    private readonly versions: TurnVersionsService,
  ) {}

  async handle(connection: Connection, message: ClientMessage): Promise<void> {
    this.metrics.messagesIn.inc({ type: message.type });
    // typing indicators have a budget of their own: a fast typist must not use up the messages';
    // and so has auth_refresh, so that a client over its messages' budget can still refresh its token
    // (each refresh is a token check: unbudgeted, one socket could keep a core busy with them)
    if (message.type === 'typing_indicator') await this.checkRate(connection, 'ws-typing');
    else if (message.type === 'auth_refresh') await this.checkRate(connection, 'ws-auth');
    else await this.checkRate(connection, 'ws');
    // an admin's socket speaks in its own chat or in the session whose lease it holds (it is moved
    // there on admin_join, or by its first frame naming it: TakeoverService.adopt): naming any other
    // session is refused (CONTRACT §4), never rerouted. A user's messages always go to the user's one
    // active session.
    if (connection.principal.isAdmin) {
      if (
        message.type !== 'admin_join' &&
        message.type !== 'admin_leave' &&
        message.session_id !== undefined &&
        message.session_id !== connection.sessionId &&
        // a refresh is handled aside, never held behind a join (docs/protocol.md, "Frames")
        (message.type === 'auth_refresh' || !(await this.takeover.adopt(connection, message.session_id)))
      ) {
        if (
          (message.type === 'user_message' || message.type === 'file_upload') &&
          (await this.ackStoredAdminMessage(connection, message))
        )
          return;
        throw new DomainException(ErrorCode.SESSION_LOCKED, 'You do not hold this session.');
      }
      // A session named and taken, joined, or a new chat: the socket says where it writes from now
      // on. Only a frame that is taken says so: until the paused-instance audit of session 44 any frame
      // naming a session lifted the guard, even one refused above (the dashboard names the session on
      // every typing_indicator), and the admin's next unnamed message, meant for the user, was acked
      // into the admin's console chat and answered by the model (6 of 6 rounds;
      // test/e2e/takeover-admin-edges.e2e-spec.ts).
      if (message.type === 'new_session' || message.type === 'admin_join') {
        await this.route(connection, message);
        connection.endedTakeover = undefined;
        return;
      }
      if (message.session_id !== undefined && message.type !== 'admin_leave')
        connection.endedTakeover = undefined;
    }
    return this.route(connection, message);
  }

  private async route(connection: Connection, message: ClientMessage): Promise<void> {
    switch (message.type) {
      case 'user_message':
        return this.userMessage(connection, message);
      case 'model_select':
        return this.modelSelect(connection, message);
      case 'new_session':
        return this.connections.newSession(connection, message.client_id);
      case 'stop_generation':
        this.replies.stopEverywhere(connection.sessionId);
        return this.ack(connection, message);
      case 'auth_refresh':
        return this.authRefresh(connection, message);
      case 'help_request':
        return this.help.request(connection, message);
      case 'admin_join':
        return this.takeover.join(
          connection,
          message.session_id,
          message.client_id,
          message.metadata?.resume === true,
          lastSeqOf(message.metadata),
        );
      case 'admin_leave':
        return this.takeover.leave(connection, message.session_id, message.client_id);
      case 'typing_indicator':
        // relayed to the other human side only (user ↔ admin)
        this.hub.toSession(
          connection.sessionId,
          this.frame(connection.sessionId, {
            type: 'typing_indicator',
            sender: connection.principal.isAdmin ? 'admin' : 'user',
            // CONTRACT §2: the client_id is echoed on every message it causes (the contract audit of
            // session 44 found the relayed indicator without it)
            ...(message.client_id === undefined ? {} : { client_id: message.client_id }),
            metadata: { typing: message.metadata?.typing === true },
          }),
          connection,
          connection.principal.isAdmin ? 'users' : 'admins',
        );
        return this.ack(connection, message);
      case 'file_upload': {
        // an admin's socket bound to a session it took over sends its file there, as sender admin
        if (this.takeover.isAssisting(connection)) return this.takeover.adminFile(connection, message);
        this.requireOwnChat(connection);
        // the file is checked and attached by the uploads module; the event takes the record path
        // a caption asks about the file: answered like a typed message, unless an admin assists
        await this.attachments.record(
          {
            sessionId: connection.sessionId,
            userId: connection.principal.userId,
            fileId: message.file_id,
            clientId: message.client_id,
            caption: message.content,
          },
          (prepared) =>
            this.records.record({
              sessionId: connection.sessionId,
              origin: connection,
              owner: connection.principal.userId,
              message: prepared,
              answer: prepared.content !== undefined,
              name: prepared.content !== undefined,
            }),
        );
        return;
      }
      case 'voice_message':
        // transcribed, stored and answered by the voice service
        return this.voice.handle(connection, message);
      case 'regenerate':
        return this.versions.regenerate(connection, message);
      case 'edit_message':
        return this.versions.edit(connection, message);
      case 'reply_select':
        return this.versions.select(connection, message);
      case 'read':
        return this.read(connection, message);
    }
  }

  private async userMessage(connection: Connection, message: ClientMessageOf<'user_message'>): Promise<void> {
    // an admin's socket bound to a session it took over speaks there, as sender admin
    if (this.takeover.isAssisting(connection)) return this.takeover.adminMessage(connection, message);
    this.requireOwnChat(connection);
    // stored only in the user's own session, which comes back as written: whether an admin assists
    // is decided on it (the admin answers then, and already got the message)
    await this.records.record({
      sessionId: connection.sessionId,
      origin: connection,
      owner: connection.principal.userId,
      message: {
        type: 'user_message',
        sender: 'user',
        client_id: message.client_id,
        content: message.content,
      },
      name: true,
      answer: true,
    });
  }

  // An admin's socket whose takeover ended elsewhere as it wrote (a release in another tab, a lapse):
  // a message or file naming no session was meant for the user, not for the admin's own chat. Until
  // an admin audit in session 40 a message was stored there, acked, and the model answered it (5–9 of
  // 20 rounds; test/e2e/takeover-admin-edges.e2e-spec.ts).
  private requireOwnChat(connection: Connection): void {
    if (connection.endedTakeover !== undefined)
      throw new DomainException(
        ErrorCode.SESSION_LOCKED,
        'Your takeover of that session ended; the message was not sent.',
      );
  }

  private async modelSelect(connection: Connection, message: ClientMessageOf<'model_select'>): Promise<void> {
    const modelId = message.model_id;
    if (!this.registry.has(modelId))
      throw new DomainException(ErrorCode.UNKNOWN_MODEL, `Unknown model "${modelId}".`);
    await this.sessions.setModel(connection.sessionId, modelId);
    this.hub.send(
      connection,
      this.frame(connection.sessionId, { type: 'ack', client_id: message.client_id, model_id: modelId }),
    );
    // the client_id of the frame that caused it (CONTRACT §2). Until the contract audit of session 44
    // the user's other devices were shown it without (3 of 3 runs).
    this.hub.toSession(
      connection.sessionId,
      this.frame(connection.sessionId, {
        type: 'model_select',
        model_id: modelId,
        client_id: message.client_id,
      }),
    );
  }

  // Read receipt for an admin's message: stored once on it, shown to the session's admins.
  private async read(connection: Connection, message: ClientMessageOf<'read'>): Promise<void> {
    const seenAt = await this.sessions.markSeen(
      connection.sessionId,
      connection.principal.userId,
      message.id,
    );
    if (!seenAt) throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    this.hub.toSession(
      connection.sessionId,
      this.frame(connection.sessionId, {
        type: 'read',
        id: message.id,
        metadata: { seen_at: seenAt.toISOString() },
      }),
      connection,
      'admins',
    );
    this.ack(connection, message);
  }

  private authRefresh(connection: Connection, message: ClientMessageOf<'auth_refresh'>): void {
    const principal = this.tokens.verify(message.content);
    if (principal.userId !== connection.principal.userId) {
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'The new token is for another user.');
    }
    // a role taken away (or given) takes effect at once: the socket closes, and the client connects
    // again with the new token; an admin's takeover then lapses as after any close (its powers do
    // not outlive the role)
    if (principal.isAdmin !== connection.principal.isAdmin)
      throw new DomainException(
        ErrorCode.UNAUTHORIZED,
        'The new token changes your role; connect again with it.',
      );
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

  private checkRate(connection: Connection, bucket: 'ws' | 'ws-typing' | 'ws-auth'): Promise<void> {
    return spendBudget(this.throttler, {
      bucket,
      userId: connection.principal.userId,
      limit: this.settings.rateLimitMessagesPerSecond,
      windowMs: RATE_WINDOW_MS,
      minRetryMs: 100,
      message: 'Too many messages; slow down.',
    });
  }

  // A resend of a message (or file) this admin stored in the session it names, its takeover over since (a
  // dashboard that lost the ack resends from its next socket): the stored copy's ack, as any resend
  // gets (docs/protocol.md, "Guarantees"). Until an admin audit in session 40 it was refused
  // SESSION_LOCKED, and the dashboard showed a message the user had as not sent. false: none stored.
  private async ackStoredAdminMessage(
    connection: Connection,
    message: ClientMessageOf<'user_message' | 'file_upload'>,
  ): Promise<boolean> {
    const sessionId = message.session_id as string;
    const stored = await this.sessions.sent(sessionId, {
      client_id: message.client_id,
      sender: 'admin',
      metadata: { admin_key: adminKeyOf(connection.principal.userId) },
    });
    if (!stored) return false;
    this.records.ack(connection, sessionId, stored);
    return true;
  }

  // a command that stores nothing is acked without an id
  private ack(connection: Connection, message: ClientMessage): void {
    this.hub.send(
      connection,
      this.frame(connection.sessionId, { type: 'ack', client_id: message.client_id }),
    );
  }

  // Where a session stands, for an error naming it on a socket of another (CONTRACT §2): this
  // instance's last seq of it, else one read of the store; undefined when neither answers (never throws).
  async seqOf(sessionId: string): Promise<number | undefined> {
    return (
      this.sessions.lastSeq(sessionId) ?? (await this.sessions.storedSeq(sessionId).catch(() => undefined))
    );
  }

  frame(sessionId: string, frame: ServerFrame): ServerFrame {
    return { ...frame, session_id: sessionId, seq: this.sessions.lastSeq(sessionId) ?? 0 };
  }
}

// admin_join's `metadata.last_seq` (optional): the last seq the admin's socket saw, so it is first sent
// every stored event after it (docs/protocol.md, "Takeover handoff"). Anything but a whole number of 0
// or more is refused.
export function lastSeqOf(metadata: Record<string, unknown> | undefined): number | undefined {
  const value = metadata?.last_seq;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new DomainException(
      ErrorCode.INVALID_MESSAGE,
      '"metadata.last_seq" must be a whole number of 0 or more.',
    );
  return value;
}

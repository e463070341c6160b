import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { LlmRegistry } from '../llm/llm.registry';
import type { SessionRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { TakeoverService } from '../takeover/takeover.service';
import { ClientHub } from '../realtime/client-hub';
import { CLOSE_SLOW_CLIENT, drained } from '../realtime/write-data';
import type { Connection } from '../realtime/connection';
import { isDeltaFrame, type AiDeltaFrame, type ConnectionStatusFrame } from '../../protocol/frames';
import { storedFrame } from '../realtime/frames';
import { ReplyService } from '../replies/reply.service';
import { TurnWatchService } from '../replies/turn-watch.service';
import { SessionReads } from '../sessions/session-reads';
import { hasOpenTurn } from '../sessions/session-rules';
import { closeSocket } from '../realtime/close-socket';

// a replay waits while its socket holds this much unsent, at most REPLAY_DRAIN_MS each time
const REPLAY_BUFFERED_BYTES = 1024 * 1024;
const REPLAY_DRAIN_MS = 10_000;
// how long a resume waits for the instance streaming the session's reply to send its text so far
const SNAPSHOT_WAIT_MS = 500;

// A socket's place in the user's one active session: binding on connect (with replay after
// last_seq and the reply in flight), moving every device to a new session, leaving, and the sweep
// of idle sessions. What each client message does is ChatService's.
@Injectable()
export class ConnectionsService {
  private readonly logger = new Logger('chat');
  private keeping = false;

  constructor(
    private readonly sessions: SessionsService,
    private readonly replies: ReplyService,
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly takeover: TakeoverService,
    private readonly turns: TurnWatchService,
    private readonly reads: SessionReads,
    @Inject(SETTINGS) private readonly settings: Pick<Settings, 'maxMessageLength'>,
  ) {}

  // Binds a new socket to its session, replays what it missed after last_seq, then goes live.
  async connect(connection: Connection, requestedSessionId?: string, lastSeq?: number): Promise<void> {
    const { session, restored, replaced } = await this.sessions.open(
      connection.principal.userId,
      requestedSessionId,
      this.registry.defaultModelId,
      { console: connection.principal.isAdmin },
    );
    // closed while the session was opening: nothing to bind (else its hub entries would stay forever)
    if (connection.closed) return;
    this.sessions.remember(session);
    connection.sessionId = session.id;
    connection.pending = [];
    this.hub.add(connection);
    if (replaced) this.moveUserTo(connection, session, true);
    // on a resume the socket stands at last_seq (at most the head): the replay follows in order
    const status = this.statusFrame(connection, session, restored);
    if (lastSeq !== undefined) status.seq = Math.min(lastSeq, session.seq);
    this.hub.send(connection, status);
    let replayedCount = 0;
    // the ids the replay carried: a reply among them is stored, never shown again as in flight
    const replayedIds = new Set<string>();
    // a replay reads the whole log: it takes one of the instance's places for that, and waits for
    // one (a user's sockets are bounded already: docs/protocol.md, "Whole-session reads")
    const release =
      lastSeq === undefined ? undefined : await this.reads.enter(connection.principal.userId, Infinity);
    let maxSeq = lastSeq ?? session.seq;
    try {
      // closed while it waited: nothing to read for it
      if (connection.closed) return;
      const replayed =
        lastSeq === undefined ? [] : await this.sessions.messagesAfter(session.id, session.user_id, lastSeq);
      // closed during the replay's read: disconnect() has already taken it out of the hub
      if (connection.closed) return;
      for (const message of replayed) {
        // a log larger than the socket's buffer goes as the client reads it (live frames wait in
        // `pending` meanwhile); a client that does not read it is closed as too slow
        if (!(await drained(connection, REPLAY_BUFFERED_BYTES, REPLAY_DRAIN_MS))) {
          closeSocket(connection.socket, CLOSE_SLOW_CLIENT, 'client too slow; reconnect to catch up');
          return;
        }
        if (connection.closed) return;
        this.hub.send(connection, storedFrame(session.id, message));
        replayedIds.add(message.id);
        maxSeq = Math.max(maxSeq, message.seq);
      }
      replayedCount = replayed.length;
    } finally {
      release?.();
    }
    // the reply in flight, streaming here or on another instance: its text so far, then its live
    // pieces (docs/protocol.md, "Resume")
    const local = this.replies.inFlight(session.id);
    const generation =
      local ?? (restored ? await this.replies.textElsewhere(session.id, SNAPSHOT_WAIT_MS) : undefined);
    if (connection.closed) return;
    // a reply is still the session's reply in flight while its stored copy is being sent: one the
    // replay carried is not shown again as a delta, nor are its pieces that waited in `pending` (an
    // audit saw the stored reply, then its whole text as a resumed delta: 2 of 80 resumes)
    const storedAlready = generation !== undefined && replayedIds.has(generation.replyId);
    const snapshot = storedAlready ? '' : (generation?.text ?? '');
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
      (frame) =>
        !(
          isDeltaFrame(frame) &&
          frame.id === generation?.replyId &&
          (storedAlready || deltaEnd(frame) <= snapshot.length)
        ),
    );
    this.hub.resume(connection, maxSeq, pending);
    // a turn whose instance died mid-reply is answered again once its reply lease lapses (the head
    // says whether a question is open: no read of the messages when none is)
    if (restored && !connection.principal.isAdmin && hasOpenTurn(session))
      this.turns.watch(session.id, session.user_id);
    this.logger.log(
      {
        user_id: connection.principal.userId,
        session_id: session.id,
        event: 'connect',
        restored,
        replayed: replayedCount,
      },
      'client connected',
    );
  }

  disconnect(connection: Connection): void {
    if (!this.hub.remove(connection)) return;
    this.takeover.disconnected(connection);
    // the reconnect window counts from the moment the last device left
    if (!this.hub.hasSession(connection.sessionId))
      void this.sessions.touch([connection.sessionId]).catch(() => undefined);
    this.logger.log(
      { user_id: connection.principal.userId, session_id: connection.sessionId, event: 'disconnect' },
      'client disconnected',
    );
  }

  async newSession(connection: Connection, clientId?: string): Promise<void> {
    // an admin's socket bound to a takeover is in the user's session, where the user's messages reach
    // the admin through it: moved away, it left the user talking to nobody while it renewed the lease.
    // The admin leaves first (docs/protocol.md, "Takeover handoff")
    if (this.takeover.isAssisting(connection))
      throw new DomainException(
        ErrorCode.SESSION_LOCKED,
        'You are assisting this session: leave it (admin_leave) before starting a new chat.',
      );
    const previous = connection.sessionId;
    // an admin's new chat is a console session, as the one its socket connected with; a resend
    // (its client_id) gets the session the first made
    const { session } = await this.sessions.startNew(
      connection.principal.userId,
      this.registry.defaultModelId,
      { console: connection.principal.isAdmin, clientId },
    );
    this.sessions.remember(session);
    if (session.id !== previous) {
      // the reply of the session left stops wherever it streams, stored as a new_session's stop
      // (docs/protocol.md, "The reply in flight")
      this.replies.stopEverywhere(previous, Date.now(), 'new_session');
      this.sessions.forget(previous);
    }
    this.hub.send(connection, { type: 'ack', client_id: clientId, session_id: session.id, seq: session.seq });
    this.moveUserTo(connection, session, false);
  }

  // The user deleted a session (docs/protocol.md, "Session library"): on every instance its reply
  // stops and no turn of it queued is asked of the model (nothing more is stored there: its appends
  // are refused). When it was the one their devices are in (`active`), every device, on every
  // instance, moves to a new session, as after new_session. A message a device sends there before it
  // hears of the move is refused NOT_FOUND by its append.
  async sessionDeleted(userId: string, sessionId: string, active: boolean): Promise<void> {
    this.replies.sessionDeleted(sessionId);
    if (!active) return;
    const { session } = await this.sessions.startNew(userId, this.registry.defaultModelId);
    this.sessions.remember(session);
    this.sessions.forget(sessionId);
    // the hub gives each socket its own token expiry
    this.hub.moveDevices(userId, this.sessionStatus(session, false, 0));
  }

  // Every device of the user, on every instance, follows the user's one active session.
  private moveUserTo(origin: Connection, session: SessionRecord, skipOrigin: boolean): void {
    this.hub.moveUser(origin, (connection) => this.statusFrame(connection, session, false), skipOrigin);
  }

  statusFrame(connection: Connection, session: SessionRecord, restored: boolean): ConnectionStatusFrame {
    return this.sessionStatus(session, restored, connection.principal.expiresAt);
  }

  private sessionStatus(
    session: SessionRecord,
    restored: boolean,
    tokenExpiresAt: number,
  ): ConnectionStatusFrame {
    const metadata: ConnectionStatusFrame['metadata'] = {
      status: 'connected',
      restored,
      models: this.registry.models,
      model_id: session.model_id,
      name: session.name,
      token_expires_at: new Date(tokenExpiresAt).toISOString(),
      // the client counts its composer and edit boxes against it (docs/protocol.md, "Text cut or
      // named"); until the text-limits audit of session 42 no frame carried it, and a client showed
      // 4,096 where MAX_MESSAGE_LENGTH was 100, then had the message refused MESSAGE_TOO_LONG
      max_message_length: this.settings.maxMessageLength,
    };
    // the name stays on the session after a takeover; the lease holder marks one in progress
    if (session.assisting_admin_id && session.assisting_admin_name)
      metadata.assisting_admin = session.assisting_admin_name;
    return { type: 'connection_status', session_id: session.id, seq: session.seq, metadata };
  }

  // keeps sessions with live sockets from being swept, then ends idle ones
  async sweep(): Promise<void> {
    const ended = await this.sessions.keepLive(this.hub.sessionIds(), new Date(), [
      ...this.replies.answeringHere(),
      ...this.takeover.ownSessions(),
    ]);
    await this.rebind(ended);
    await this.sessions.sweepIdle();
  }

  // Between sweeps, every keepAliveMs (a quarter of RECONNECT_TIMEOUT at most): keeps the sessions
  // with live sockets from looking idle to any instance's sweep (docs/protocol.md, "Idle sessions")
  async keepAlive(): Promise<void> {
    // one at a time: a store slower than the period would pile up touches of the same sessions
    if (this.keeping) return;
    this.keeping = true;
    try {
      await this.rebind(await this.sessions.touchLive(this.hub.sessionIds()));
    } finally {
      this.keeping = false;
    }
  }

  // Sessions with sockets here that the keep-alive found ended: a user's devices bound to one go
  // where their own reconnect would take them (SessionsService.keepFor), the session brought back or
  // the user's active one. An admin assisting it is not its user: the takeover's end moves the admin.
  private async rebind(sessionIds: string[]): Promise<void> {
    for (const sessionId of sessionIds) {
      const device = this.hub
        .ofSession(sessionId)
        .find((connection) => !this.takeover.isAssisting(connection));
      if (!device) continue;
      const userId = device.principal.userId;
      const session = await this.sessions.keepFor(userId, sessionId).catch((error: unknown) => {
        this.logger.warn({ event: 'keep_failed', session_id: sessionId, err: String(error) }, 'keep failed');
        return undefined;
      });
      if (!session) continue;
      this.sessions.remember(session);
      if (session.id === sessionId) continue;
      // the user's active session is another one: this instance's devices still bound to the ended
      // one follow it, as after a new chat on another device (each instance moves its own)
      for (const connection of this.hub.ofSession(sessionId))
        if (connection.principal.userId === userId && !connection.principal.isAdmin)
          this.hub.moveTo(connection, this.statusFrame(connection, session, true));
    }
  }
}

// where a delta's text ends in the reply
function deltaEnd(frame: AiDeltaFrame): number {
  return frame.metadata.offset + frame.metadata.delta.length;
}

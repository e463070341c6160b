import { Inject, Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import { InProcessBus } from '../../infra/bus/in-process.bus';
import { SessionsService } from '../sessions/sessions.service';
import type { Connection } from './connection';
import { isStoredFrame, SeqOrder } from './delivery-order';
import {
  type ConnectionStatusFrame,
  type EphemeralFrame,
  type StoredEventFrame,
} from '../../protocol/frames';
import { storedFrame, type ServerFrame } from './frames';
import type { ReadGate } from '../../common/read-gate';
import { SessionReads } from '../sessions/session-reads';
import { addTo, removeFrom } from './connection-lists';
import { hold, matches, shows, standing, type Audience } from './socket-frames';
import { writeData } from './write-data';

export { MAX_PENDING_FRAMES, type Audience } from './socket-frames';

const TOPIC = 'hub';

type HubMessage =
  | { k: 'session'; session: string; frame: ServerFrame; except?: string; audience?: Audience }
  | { k: 'user'; user: string; frame: ServerFrame; except?: string }
  | { k: 'move'; user: string; frame: ConnectionStatusFrame; except?: string };

// The port services use to reach clients: by session or by user, on every instance. Local sockets
// are written directly; other instances get the frame over the bus (Redis pub/sub when REDIS_URL is
// set). Stored events reach each socket once and in seq order (see SeqOrder); after a bus outage
// every socket catches up from MongoDB.
@Injectable()
export class ClientHub implements OnModuleInit {
  private readonly logger = new Logger('hub');
  // a frozen array per key, replaced (never changed) when a socket comes or goes: a delivery loop
  // over one is never disturbed, and a user's or session's one socket costs a one-element array
  // where a Set cost ~250 bytes (most keys have one socket: bench/README.md, memory per connection)
  private readonly bySession = new Map<string, readonly Connection[]>();
  private readonly byUser = new Map<string, readonly Connection[]>();
  private readonly order: SeqOrder<ServerFrame>;
  // one JSON.stringify per frame, however many sockets it goes to: a frame reaches its sockets in
  // one synchronous loop, so remembering the last one is enough (a WeakMap entry per token frame
  // costs the garbage collector more than it saves)
  private lastFrame?: ServerFrame;
  private lastData = '';
  // where this instance last knew a session's log to stand: a frame naming a session other than its
  // socket's carries it (standing)
  private readonly lastSeq = (sessionId: string): number | undefined => this.log?.lastSeq(sessionId);
  private total = 0;

  constructor(
    @Optional() @Inject(BUS) private readonly bus: Bus = new InProcessBus(),
    @Optional() private readonly log?: SessionsService,
    // a catch-up reads the session's whole log: after a bus outage every socket catches up at once,
    // so the reads take the instance's places for whole-session reads (one per session at a time)
    @Optional() @Inject(SessionReads) private readonly reads?: ReadGate,
  ) {
    this.order = new SeqOrder<ServerFrame>(
      (connection, frame) => {
        if (shows(connection, frame))
          writeData(connection, this.serialize(standing(connection, frame, this.order, this.lastSeq)));
      },
      { fetchAfter: (sessionId, seq) => this.storedAfter(sessionId, seq) },
      isStoredFrame,
    );
  }

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.receive(payload as HubMessage));
    this.bus.onResync(() => this.resync());
  }

  add(connection: Connection): void {
    addTo(this.bySession, connection.sessionId, connection);
    addTo(this.byUser, connection.principal.userId, connection);
    this.total++;
  }

  remove(connection: Connection): boolean {
    if (!removeFrom(this.byUser, connection.principal.userId, connection)) return false;
    removeFrom(this.bySession, connection.sessionId, connection);
    this.order.forget(connection);
    this.total--;
    return true;
  }

  // Binds the socket to another session; `seq` is where it stands in that session's log.
  move(connection: Connection, sessionId: string, seq?: number): void {
    removeFrom(this.bySession, connection.sessionId, connection);
    connection.sessionId = sessionId;
    connection.assisted = false;
    addTo(this.bySession, sessionId, connection);
    this.order.reset(connection, seq);
  }

  // Delivers, from the store, every event of the socket's session after where it stands.
  catchUp(connection: Connection): Promise<void> {
    return this.order.catchUp(connection);
  }

  get count(): number {
    return this.total;
  }

  get instanceId(): string {
    return this.bus.instanceId;
  }

  sessionIds(): string[] {
    return [...this.bySession.keys()];
  }

  all(): Connection[] {
    return [...this.byUser.values()].flat();
  }

  // this instance's sockets of the user (the hub's own frozen list: never changes under a loop)
  ofUser(userId: string): readonly Connection[] {
    return this.byUser.get(userId) ?? [];
  }

  // this instance's sockets bound to the session (a frozen list, as ofUser)
  ofSession(sessionId: string): readonly Connection[] {
    return this.bySession.get(sessionId) ?? [];
  }

  hasSession(sessionId: string): boolean {
    return this.bySession.has(sessionId);
  }

  // Every socket of the session on every instance, except `except`. A function filter is applied on
  // this instance only; use an Audience to filter everywhere.
  toSession(
    sessionId: string,
    frame: ServerFrame,
    except?: Connection,
    filter?: Audience | ((c: Connection) => boolean),
  ): void {
    const audience = typeof filter === 'string' ? filter : undefined;
    this.localSession(sessionId, frame, except, filter);
    this.bus.publish(TOPIC, { k: 'session', session: sessionId, frame, except: except?.id, audience });
  }

  // A frame that is not stored (delta, loading, rename), to every socket of the session; it carries
  // the session's last stored seq (docs/protocol.md: every session frame has seq).
  ephemeral(sessionId: string, frame: EphemeralFrame): void {
    this.toSession(sessionId, { ...frame, session_id: sessionId, seq: this.log?.lastSeq(sessionId) });
  }

  // Every socket of the user on every instance (whatever session it shows).
  toUser(userId: string, frame: ServerFrame, except?: Connection): void {
    this.localUser(userId, frame, except?.id);
    this.bus.publish(TOPIC, { k: 'user', user: userId, frame, except: except?.id });
  }

  // Every device of the origin's user follows it to `build(origin).session_id` (one active session
  // per user); each gets its own connection_status. Admin sockets stay where they are.
  moveUser(
    origin: Connection,
    build: (connection: Connection) => ConnectionStatusFrame,
    skipOrigin: boolean,
  ): void {
    const except = skipOrigin ? origin.id : undefined;
    for (const connection of this.ofUser(origin.principal.userId)) {
      if (connection.id === except || (connection.principal.isAdmin && connection !== origin)) continue;
      this.moveTo(connection, build(connection));
    }
    this.bus.publish(TOPIC, { k: 'move', user: origin.principal.userId, frame: build(origin), except });
  }

  // Every device of the user, on every instance, to `status`'s session, each with its own token
  // expiry: moved by the server, with no socket of theirs as origin (the session they were in was
  // deleted: docs/protocol.md, "Session library"). Admin sockets stay where they are.
  moveDevices(userId: string, status: ConnectionStatusFrame): void {
    const move: HubMessage = { k: 'move', user: userId, frame: status };
    this.receive(move);
    this.bus.publish(TOPIC, move);
  }

  // Sends to one local socket. A connection_status frame also sets where the socket stands in its
  // session's log.
  send(connection: Connection, frame: ServerFrame): void {
    if (frame.type === 'connection_status') connection.assisted = Boolean(frame.metadata.assisting_admin);
    if (frame.type === 'connection_status' && typeof frame.seq === 'number')
      this.order.reset(connection, frame.seq);
    const sent = standing(connection, frame, this.order, this.lastSeq);
    // a reconnect's replay and the reply's snapshot come this way too
    if (shows(connection, sent)) writeData(connection, JSON.stringify(sent));
  }

  // Ends a reconnect's replay: the socket stands at `seq`; frames that queued meanwhile go through
  // the ordered path (stored events up to `seq` were replayed and are dropped).
  resume(connection: Connection, seq: number, pending: ServerFrame[]): void {
    connection.pending = null;
    this.order.reset(connection, seq);
    for (const frame of pending) this.order.deliver(connection, frame);
  }

  private localSession(
    sessionId: string,
    frame: ServerFrame,
    // a local socket, or the id of one (from another instance: never one of ours)
    except: Connection | string | undefined,
    filter: Audience | ((c: Connection) => boolean) | undefined,
  ): void {
    const connections = this.bySession.get(sessionId);
    if (!connections) return;
    const exceptId = typeof except === 'string' ? except : except?.id;
    for (const connection of connections) {
      if (connection.id === exceptId) {
        // the sender got an ack for this event instead
        this.order.skip(connection, frame);
        continue;
      }
      if (filter && !matches(connection, filter)) continue;
      if (connection.pending) {
        hold(connection, connection.pending, frame);
        continue;
      }
      this.order.deliver(connection, frame);
    }
  }

  private localUser(userId: string, frame: ServerFrame, exceptId?: string): void {
    for (const connection of this.ofUser(userId)) {
      if (connection.id === exceptId) continue;
      if (connection.pending) hold(connection, connection.pending, frame);
      else this.send(connection, frame);
    }
  }

  // Binds one local socket to `status`'s session, and tells it
  moveTo(connection: Connection, status: ConnectionStatusFrame): void {
    const sessionId = status.session_id;
    if (connection.sessionId !== sessionId) this.move(connection, sessionId, status.seq);
    this.send(connection, status);
  }

  private receive(message: HubMessage): void {
    switch (message.k) {
      case 'session':
        return this.localSession(message.session, message.frame, message.except, message.audience);
      case 'user':
        return this.localUser(message.user, message.frame, message.except);
      case 'move':
        for (const connection of this.ofUser(message.user)) {
          if (connection.id === message.except || connection.principal.isAdmin) continue;
          // the status was built for another socket; its token expiry is this socket's own
          const metadata = {
            ...message.frame.metadata,
            token_expires_at: new Date(connection.principal.expiresAt).toISOString(),
          };
          this.moveTo(connection, { ...message.frame, metadata });
        }
        return;
    }
  }

  // After a bus outage: every socket gets the stored events it missed, from MongoDB.
  private resync(): void {
    const connections = this.all();
    this.logger.log({ event: 'hub_resync', connections: connections.length }, 'catching up sockets');
    for (const connection of connections) void this.order.catchUp(connection);
  }

  private async storedAfter(sessionId: string, seq: number): Promise<StoredEventFrame[]> {
    if (!this.log) return [];
    const release = await this.reads?.enter(`session:${sessionId}`, Infinity);
    try {
      const messages = await this.log.storedAfter(sessionId, seq);
      return messages.map((message) => storedFrame(sessionId, message));
    } finally {
      release?.();
    }
  }

  private serialize(frame: ServerFrame): string {
    if (frame !== this.lastFrame) {
      this.lastData = JSON.stringify(frame);
      this.lastFrame = frame;
    }
    return this.lastData;
  }
}

import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import type { PresenceStatus, RoomServerFrame, RoomsChangedFrame } from '../../protocol/rooms';
import { EncodedFrame, writeData } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { SeqOrder } from '../realtime/delivery-order';
import type { ServerFrame } from '../realtime/frames';
import { SeqPrefix } from '../../protocol/seq-prefix';
import { ParticipantsRepository } from './participants.repository';
import { isStoredRoomFrame, messageFrame } from './room-frames';
import { RoomMessagesRepository } from './room-messages.repository';
import type { RoomMessageRecord } from './room.types';

const TOPIC = 'rooms';
// at most one presence frame per room per second reaches a socket (PRESENCE-004)
export const PRESENCE_COALESCE_MS = 1000;
const GAP_FILL_LIMIT = 500;
// how long a room's stored messages wait for an earlier seq before the room reads it from the store
// (once for all its sockets here)
export const ROOM_GAP_MS = 100;

type RoomBusMessage =
  | { k: 'frame'; room: string; frame: RoomServerFrame; except?: string }
  | { k: 'revoke'; room: string; user: string }
  | { k: 'user'; user: string; frame: RoomsChangedFrame }
  | { k: 'presence'; room: string; user: string; status: PresenceStatus }
  | { k: 'public_rooms' };

interface Held {
  frame: RoomServerFrame;
  exceptId?: string;
  // edits, deletes and reactions of this message that came while it was held: they go out right
  // after it
  after?: RoomServerFrame[];
}

// a change (edit, delete, reaction) of a stored message: it names the message's seq
type ChangeFrame = Extract<RoomServerFrame, { type: 'edit' | 'delete' | 'react' }>;

function isChangeFrame(frame: RoomServerFrame): frame is ChangeFrame {
  return (
    (frame.type === 'edit' || frame.type === 'delete' || frame.type === 'react') &&
    Number.isSafeInteger(frame.seq)
  );
}

// A room's stored messages in seq order, before they fan out: writers on this and other instances
// finish their inserts out of order, and putting them back in order once per room keeps every
// socket's SeqOrder on its straight path (no per-socket holding and timers for each such message).
interface RoomSequence {
  prefix: SeqPrefix<Held>;
  // changes of a message this instance has not had yet (above everything it fanned out: its `chat`
  // is on its way, or was lost on the bus or with its writer), by the message's seq, with when they
  // came: they go out right after it, once it comes or is read from the store
  early?: Map<number, { frames: RoomServerFrame[]; since: number }>;
  timer?: NodeJS.Timeout;
  reading?: boolean;
}

// A socket's subscription to a room is also its place in the room's seq, the prefix its SeqOrder
// keeps (from ready on): the fan-out's usual step (takeNext) reads and writes the one object it
// holds for the socket anyway, without a lookup and without following a pointer (SeqOrder.reset).
class Subscription extends SeqPrefix<RoomServerFrame | null> {
  // while a join replays history, live frames wait here so nothing is missed or doubled
  pending: RoomServerFrame[] | null = [];

  constructor(readonly connection: Connection) {
    super(0);
  }
}

// Frames to the sockets that joined a room, on every instance (the bus: Redis pub/sub with
// REDIS_URL). A socket is subscribed only after its join checked membership, and every membership
// loss (leave, kick, ban) revokes the user's subscriptions on every instance before anything else
// is delivered from that instance: delivery goes only to current members. Each frame is serialized
// once for all its sockets; stored messages reach each socket once and in seq order.
@Injectable()
export class RoomHub implements OnModuleInit {
  private readonly rooms = new Map<string, Map<string, Subscription>>();
  private readonly ofConnection = new Map<string, Set<string>>();
  // every attached rooms socket by user: frames about the user's own rooms (rooms_changed)
  private readonly ofUser = new Map<string, Set<Connection>>();
  private readonly orders = new Map<string, SeqOrder<RoomServerFrame>>();
  private readonly sequences = new Map<string, RoomSequence>();
  private readonly presencePending = new Map<string, Map<string, PresenceStatus>>();
  private readonly presenceTimers = new Map<string, NodeJS.Timeout>();
  private readonly presenceSentAt = new Map<string, number>();
  private readonly publicRoomsListeners: Array<() => void> = [];
  private lastFrame?: RoomServerFrame;
  private lastData = new EncodedFrame('');

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    private readonly messages: RoomMessagesRepository,
    private readonly participants: ParticipantsRepository,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.receive(payload as RoomBusMessage));
    this.bus.onResync(() => {
      // what changed while the bus was away never came: every copy of the public rooms goes
      this.publicRoomsLocal();
      void this.resync();
    });
  }

  // A public room was created or renamed: every instance's copy of the public rooms (RoomsService's
  // room list) is read again.
  publicRoomsChanged(): void {
    this.publicRoomsLocal();
    this.bus.publish(TOPIC, { k: 'public_rooms' } satisfies RoomBusMessage);
  }

  onPublicRoomsChanged(listener: () => void): void {
    this.publicRoomsListeners.push(listener);
  }

  private publicRoomsLocal(): void {
    for (const listener of this.publicRoomsListeners) listener();
  }

  // The bus was away (Redis): what other instances published meanwhile is in the store, and so is
  // every membership change. Each live subscription holds its live frames while its user's membership
  // is read again (a revoke published meanwhile never came: a kick or ban stands), then reads the
  // messages after where it stands. The store away too: the subscriptions stay (a join checks again).
  private async resync(): Promise<void> {
    const held = new Map<string, Subscription[]>();
    for (const [roomId, subscribers] of this.rooms)
      for (const subscription of subscribers.values()) {
        if (subscription.pending) continue;
        subscription.pending = [];
        held.set(roomId, [...(held.get(roomId) ?? []), subscription]);
      }
    await Promise.all(
      [...held].map(async ([roomId, subscriptions]) => {
        const users = [...new Set(subscriptions.map((item) => item.connection.principal.userId))];
        const members = await this.participants.findMany(roomId, users).then(
          (found) => new Set(users.filter((userId) => found.get(userId)?.state === 'member')),
          () => new Set(users),
        );
        for (const subscription of subscriptions) {
          const connection = subscription.connection;
          // unsubscribed meanwhile, or subscribed again by a join (which checked)
          if (this.rooms.get(roomId)?.get(connection.id) !== subscription) continue;
          if (!members.has(connection.principal.userId)) {
            this.unsubscribe(connection, roomId);
            continue;
          }
          // the room's order, had only while it has subscribers (emptied meanwhile: none made)
          const order = this.orderOf(roomId);
          const pending = subscription.pending ?? [];
          subscription.pending = null;
          for (const frame of pending) order.deliver(connection, frame);
          void order.catchUp(connection);
        }
      }),
    );
  }

  // Subscribes the socket (already checked as a member); live frames queue until ready().
  subscribe(connection: Connection, roomId: string): void {
    // a closed socket was dropped (drop) already: nothing would take it out again
    if (connection.closed) return;
    let subscribers = this.rooms.get(roomId);
    if (!subscribers) this.rooms.set(roomId, (subscribers = new Map()));
    subscribers.set(connection.id, new Subscription(connection));
    let rooms = this.ofConnection.get(connection.id);
    if (!rooms) this.ofConnection.set(connection.id, (rooms = new Set()));
    rooms.add(roomId);
  }

  // The join's replay is done: the socket stands at `seq`; what queued meanwhile goes out in order.
  ready(connection: Connection, roomId: string, seq: number): void {
    const subscription = this.rooms.get(roomId)?.get(connection.id);
    if (!subscription) return;
    const pending = subscription.pending ?? [];
    subscription.pending = null;
    const order = this.orderOf(roomId);
    order.reset(connection, seq, subscription);
    for (const frame of pending) order.deliver(connection, frame);
  }

  isSubscribed(connection: Connection, roomId: string): boolean {
    return this.rooms.get(roomId)?.has(connection.id) ?? false;
  }

  unsubscribe(connection: Connection, roomId: string): void {
    const subscribers = this.rooms.get(roomId);
    if (!subscribers?.delete(connection.id)) return;
    this.orders.get(roomId)?.forget(connection);
    if (subscribers.size === 0) {
      this.rooms.delete(roomId);
      this.orders.delete(roomId);
      clearTimeout(this.sequences.get(roomId)?.timer);
      this.sequences.delete(roomId);
      // its presence frames' pace: a pending flush forgets it itself
      if (!this.presenceTimers.has(roomId)) this.presenceSentAt.delete(roomId);
    }
    const rooms = this.ofConnection.get(connection.id);
    rooms?.delete(roomId);
    if (rooms?.size === 0) this.ofConnection.delete(connection.id);
  }

  // the socket hears of changes to its user's rooms from now on (until drop)
  register(connection: Connection): void {
    if (connection.closed) return;
    const userId = connection.principal.userId;
    let sockets = this.ofUser.get(userId);
    if (!sockets) this.ofUser.set(userId, (sockets = new Set()));
    sockets.add(connection);
  }

  drop(connection: Connection): void {
    for (const roomId of [...(this.ofConnection.get(connection.id) ?? [])])
      this.unsubscribe(connection, roomId);
    const userId = connection.principal.userId;
    const sockets = this.ofUser.get(userId);
    sockets?.delete(connection);
    if (sockets?.size === 0) this.ofUser.delete(userId);
  }

  // Every socket of the user, joined to the room or not, on every instance.
  toUser(userId: string, frame: RoomsChangedFrame): void {
    this.userLocal(userId, frame);
    this.bus.publish(TOPIC, { k: 'user', user: userId, frame } satisfies RoomBusMessage);
  }

  // Every subscribed socket of the room on every instance, except `except` (the sender, acked instead).
  toRoom(roomId: string, frame: RoomServerFrame, except?: Connection): void {
    this.local(roomId, frame, except?.id);
    this.bus.publish(TOPIC, { k: 'frame', room: roomId, frame, except: except?.id } satisfies RoomBusMessage);
  }

  // The user is no longer a member: their sockets stop receiving the room, on every instance. true
  // once the bus took the revoke (an instance away from it then reads memberships again when it is
  // back: resync); false when it could not be sent (Redis away).
  revoke(roomId: string, userId: string): Promise<boolean> {
    this.revokeLocal(roomId, userId);
    return this.bus.publishConfirmed(TOPIC, {
      k: 'revoke',
      room: roomId,
      user: userId,
    } satisfies RoomBusMessage);
  }

  // A member's presence changed: told to the room's sockets, coalesced per room (PRESENCE-004).
  presence(roomId: string, userId: string, status: PresenceStatus): void {
    this.presenceLocal(roomId, userId, status);
    this.bus.publish(TOPIC, { k: 'presence', room: roomId, user: userId, status } satisfies RoomBusMessage);
  }

  send(connection: Connection, frame: RoomServerFrame | ServerFrame): void {
    writeData(connection, JSON.stringify(frame));
  }

  private receive(message: RoomBusMessage): void {
    switch (message.k) {
      case 'frame':
        return this.local(message.room, message.frame, message.except);
      case 'revoke':
        return this.revokeLocal(message.room, message.user);
      case 'presence':
        return this.presenceLocal(message.room, message.user, message.status);
      case 'user':
        return this.userLocal(message.user, message.frame);
      case 'public_rooms':
        return this.publicRoomsLocal();
    }
  }

  private userLocal(userId: string, frame: RoomsChangedFrame): void {
    const sockets = this.ofUser.get(userId);
    if (!sockets) return;
    const data = new EncodedFrame(JSON.stringify(frame));
    for (const connection of sockets) writeData(connection, data);
  }

  private local(roomId: string, frame: RoomServerFrame, exceptId?: string): void {
    if (frame.type === 'chat') this.messages.noteStored(roomId, frame.seq);
    if (!this.rooms.has(roomId)) return;
    // an edit, a delete or a reaction of a message held here (a lower seq missing), or of one this
    // instance has not had at all yet, goes out right after it: the client drops a change to a
    // message it does not hold, and would then show the message as it was stored, without the
    // reaction, the edit or the delete (docs/protocol.md, "Guarantees")
    if (isChangeFrame(frame)) {
      const sequence = this.sequences.get(roomId);
      const held = sequence?.prefix.heldAt(frame.seq);
      if (held) {
        (held.after ??= []).push(frame);
        return;
      }
      if (sequence && !sequence.prefix.has(frame.seq)) {
        const early = (sequence.early ??= new Map());
        const waiting = early.get(frame.seq);
        if (waiting) waiting.frames.push(frame);
        else early.set(frame.seq, { frames: [frame], since: Date.now() });
        this.watch(roomId, sequence);
        return;
      }
    }
    if (!isStoredRoomFrame(frame)) return this.fanOut(roomId, frame, exceptId);
    let sequence = this.sequences.get(roomId);
    if (!sequence) this.sequences.set(roomId, (sequence = { prefix: new SeqPrefix(frame.seq - 1) }));
    const { prefix } = sequence;
    // the next seq goes straight out; a late or repeated one too (the sockets' SeqOrder places or drops it)
    if (prefix.takeNext(frame.seq) || prefix.has(frame.seq)) {
      this.fanOut(roomId, frame, exceptId);
      return this.releaseEarly(roomId, sequence, frame.seq);
    }
    for (const held of prefix.add(frame.seq, { frame, exceptId })) this.release(roomId, held, sequence);
    this.watch(roomId, sequence);
  }

  // Something waits (a seq above a missing one, a change of a message not had yet): the room reads
  // the store after ROOM_GAP_MS, once for every socket here. Nothing waits: no timer.
  private watch(roomId: string, sequence: RoomSequence): void {
    if (sequence.prefix.heldCount === 0 && !sequence.early?.size) {
      clearTimeout(sequence.timer);
      sequence.timer = undefined;
    } else if (!sequence.timer && !sequence.reading) {
      sequence.timer = setTimeout(() => void this.fillGap(roomId, sequence), ROOM_GAP_MS);
      sequence.timer.unref();
    }
  }

  // the changes that waited for the message at `seq` (it went out): after it
  private releaseEarly(roomId: string, sequence: RoomSequence, seq: number): void {
    const waiting = sequence.early?.get(seq);
    if (!waiting) return;
    sequence.early?.delete(seq);
    for (const change of waiting.frames) this.fanOut(roomId, change);
  }

  // An earlier seq did not come (its writer died, the bus dropped it): read what follows the room's
  // point from the store, once for every socket here, then let everything held go on in order. A
  // seq still missing is left to each socket's SeqOrder, which reads again after its own wait.
  // A change of a message not had here waits for it the same way: the read brings the message (it
  // was stored before its change was made), then the change goes out; one the read did not bring
  // (the store away, or a message gone meanwhile) goes out after the read rather than never.
  private async fillGap(roomId: string, sequence: RoomSequence): Promise<void> {
    sequence.timer = undefined;
    sequence.reading = true;
    const startedAt = Date.now();
    let missing: RoomMessageRecord[] = [];
    let read = false;
    try {
      missing = await this.messages.after(roomId, sequence.prefix.point, GAP_FILL_LIMIT);
      read = true;
    } catch {
      // the store is away: the sockets' SeqOrder retries with backoff
    } finally {
      sequence.reading = false;
    }
    if (this.sequences.get(roomId) !== sequence) return;
    const { prefix } = sequence;
    for (const message of missing)
      for (const held of prefix.add(message.seq, { frame: messageFrame(message) }))
        this.release(roomId, held, sequence);
    for (const held of prefix.skipThrough(prefix.highest)) this.release(roomId, held, sequence);
    for (const [seq, waiting] of [...(sequence.early ?? [])].sort(([a], [b]) => a - b))
      if (!read || seq <= prefix.point || waiting.since <= startedAt)
        this.releaseEarly(roomId, sequence, seq);
    this.watch(roomId, sequence);
  }

  // a held message goes out, then the changes of it that waited for it
  private release(roomId: string, held: Held, sequence: RoomSequence): void {
    this.fanOut(roomId, held.frame, held.exceptId);
    for (const frame of held.after ?? []) this.fanOut(roomId, frame);
    if (isStoredRoomFrame(held.frame)) this.releaseEarly(roomId, sequence, held.frame.seq);
  }

  // Per socket, the usual case of a stored message is the seq right after the socket's point with
  // nothing held (the room's sequence put the messages in order): one integer compare and the write
  // of the bytes encoded once, nothing allocated. Any other socket and frame goes through SeqOrder.
  private fanOut(roomId: string, frame: RoomServerFrame, exceptId?: string): void {
    const subscribers = this.rooms.get(roomId);
    if (!subscribers) return;
    const order = this.orderOf(roomId);
    const except = exceptId !== undefined ? subscribers.get(exceptId) : undefined;
    const stored = isStoredRoomFrame(frame);
    const seq = stored ? frame.seq : 0;
    const data = stored ? this.serialize(frame) : undefined;
    for (const subscription of subscribers.values()) {
      if (subscription === except) order.skip(subscription.connection, frame);
      else if (subscription.pending) subscription.pending.push(frame);
      else if (data !== undefined && subscription.takeNext(seq)) writeData(subscription.connection, data);
      else order.deliver(subscription.connection, frame);
    }
  }

  private revokeLocal(roomId: string, userId: string): void {
    for (const subscription of [...(this.rooms.get(roomId)?.values() ?? [])])
      if (subscription.connection.principal.userId === userId)
        this.unsubscribe(subscription.connection, roomId);
  }

  private presenceLocal(roomId: string, userId: string, status: PresenceStatus): void {
    if (!this.rooms.has(roomId)) return;
    let pending = this.presencePending.get(roomId);
    if (!pending) this.presencePending.set(roomId, (pending = new Map()));
    pending.set(userId, status);
    if (this.presenceTimers.has(roomId)) return;
    const wait = Math.max(0, (this.presenceSentAt.get(roomId) ?? 0) + PRESENCE_COALESCE_MS - Date.now());
    const timer = setTimeout(() => this.flushPresence(roomId), wait);
    timer.unref();
    this.presenceTimers.set(roomId, timer);
  }

  private flushPresence(roomId: string): void {
    this.presenceTimers.delete(roomId);
    const pending = this.presencePending.get(roomId);
    this.presencePending.delete(roomId);
    if (!pending || pending.size === 0) return;
    this.presenceSentAt.set(roomId, Date.now());
    const users = [...pending].map(([user_id, status]) => ({ user_id, status }));
    this.local(roomId, { type: 'presence', room_id: roomId, metadata: { users } });
    // forget rooms nobody here listens to any more
    if (!this.rooms.has(roomId)) this.presenceSentAt.delete(roomId);
  }

  private orderOf(roomId: string): SeqOrder<RoomServerFrame> {
    let order = this.orders.get(roomId);
    if (!order) {
      order = new SeqOrder<RoomServerFrame>(
        // writeData corks each socket for the turn: the frames of every message fanned out in one
        // turn leave a socket in one write
        (connection, frame) => writeData(connection, this.serialize(frame)),
        {
          fetchAfter: async (_sessionId, seq) =>
            (await this.messages.after(roomId, seq, GAP_FILL_LIMIT)).map((message) => messageFrame(message)),
        },
        isStoredRoomFrame,
        undefined,
        // an edit, a delete or a reaction waits behind its message (docs/protocol.md, "Guarantees")
        (frame) => (isChangeFrame(frame) ? frame.seq : undefined),
      );
      this.orders.set(roomId, order);
    }
    return order;
  }

  // one JSON.stringify, UTF-8 encoding and WebSocket framing per frame, however many sockets it goes
  // to (a frame reaches its sockets in one synchronous loop, so the last one is enough)
  private serialize(frame: RoomServerFrame): EncodedFrame {
    if (frame !== this.lastFrame) {
      this.lastData = new EncodedFrame(JSON.stringify(frame));
      this.lastFrame = frame;
    }
    return this.lastData;
  }
}

import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import type { PresenceStatus, RoomServerFrame, RoomsChangedFrame } from '../../protocol/rooms';
import { EncodedFrame, writeData } from '../realtime/write-data';
import type { Connection } from '../realtime/connection';
import { ParticipantsRepository } from './participants.repository';
import { RoomFanOut, Subscription } from './room-fan-out';
import { HeldFrames } from './room-held-frames';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomPresencePace } from './room-presence-pace';

const TOPIC = 'rooms';

type RoomBusMessage =
  | { k: 'frame'; room: string; frame: RoomServerFrame; except?: string }
  | { k: 'revoke'; room: string; user: string }
  | { k: 'user'; user: string; frame: RoomServerFrame }
  | { k: 'presence'; room: string; user: string; status: PresenceStatus; v?: number }
  // one user's change for all of their rooms at once (presenceInRooms)
  | { k: 'presences'; rooms: string[]; user: string; status: PresenceStatus; v: number }
  | { k: 'public_rooms' };

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
  private readonly publicRoomsListeners: Array<() => void> = [];
  // told once a resync has read the memberships again (RoomPresence)
  private readonly resyncedListeners: Array<() => void> = [];
  // the rooms' frames put in order and written to the sockets here (room-fan-out.ts)
  private readonly fanOut: RoomFanOut;
  // presence frames, at most one per room per second (room-presence-pace.ts)
  private readonly presencePace: RoomPresencePace;

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    messages: RoomMessagesRepository,
    private readonly participants: ParticipantsRepository,
  ) {
    this.fanOut = new RoomFanOut(this.rooms, messages);
    this.presencePace = new RoomPresencePace(this.rooms, this.fanOut);
  }

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.receive(payload as RoomBusMessage));
    this.bus.onResync(() => {
      // what changed while the bus was away never came: every copy of the public rooms goes
      this.publicRoomsLocal();
      void this.resync().finally(() => {
        for (const listener of this.resyncedListeners) listener();
      });
    });
  }

  onResynced(listener: () => void): void {
    this.resyncedListeners.push(listener);
  }

  // the rooms with a socket subscribed here
  roomsHere(): string[] {
    return [...this.rooms.keys()];
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
        subscription.pending = new HeldFrames();
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
          const order = this.fanOut.orderOf(roomId);
          const pending = subscription.pending?.frames ?? [];
          subscription.pending = null;
          for (const frame of pending) order.deliver(connection, frame);
          void order.catchUp(connection);
        }
      }),
    );
  }

  // Subscribes the socket (already checked as a member); live frames queue in `held` until ready().
  // The subscription, or undefined for a closed socket.
  subscribe(connection: Connection, roomId: string, held?: HeldFrames): Subscription | undefined {
    // a closed socket was dropped (drop) already: nothing would take it out again
    if (connection.closed) return undefined;
    let subscribers = this.rooms.get(roomId);
    if (!subscribers) this.rooms.set(roomId, (subscribers = new Map()));
    const subscription = new Subscription(connection, held);
    subscribers.set(connection.id, subscription);
    let rooms = this.ofConnection.get(connection.id);
    if (!rooms) this.ofConnection.set(connection.id, (rooms = new Set()));
    rooms.add(roomId);
    return subscription;
  }

  // the socket's subscription to the room is still `subscription` (not left, revoked, closed, nor
  // made again by another join)
  holds(subscription: Subscription, roomId: string): boolean {
    return this.rooms.get(roomId)?.get(subscription.connection.id) === subscription;
  }

  // The join's replay is done: the socket stands at `seq`; what queued meanwhile goes out in order.
  ready(connection: Connection, roomId: string, seq: number): void {
    const subscription = this.rooms.get(roomId)?.get(connection.id);
    if (!subscription) return;
    const pending = subscription.pending?.frames ?? [];
    subscription.pending = null;
    const order = this.fanOut.orderOf(roomId);
    order.reset(connection, seq, subscription);
    for (const frame of pending) order.deliver(connection, frame);
  }

  isSubscribed(connection: Connection, roomId: string): boolean {
    return this.rooms.get(roomId)?.has(connection.id) ?? false;
  }

  // `only`: unless the socket's subscription is another one by now (a later join's)
  unsubscribe(connection: Connection, roomId: string, only?: Subscription): void {
    const subscribers = this.rooms.get(roomId);
    if (only && subscribers?.get(connection.id) !== only) return;
    if (!subscribers?.delete(connection.id)) return;
    this.fanOut.forget(connection, roomId);
    if (subscribers.size === 0) {
      this.rooms.delete(roomId);
      this.fanOut.forgetRoom(roomId);
      this.presencePace.forgetRoom(roomId);
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

  // Every socket of the user, joined to the room or not, on every instance: their own list of rooms
  // changed (`rooms_changed`).
  toUser(userId: string, roomId: string, reason: RoomsChangedFrame['metadata']['reason']): void {
    const frame: RoomsChangedFrame = {
      type: 'rooms_changed',
      user_id: userId,
      room_id: roomId,
      timestamp: new Date().toISOString(),
      metadata: { reason },
    };
    this.toUserSockets(userId, frame);
  }

  // A frame for every socket of the user, joined to its room or not, on every instance (the user's own
  // `read` in a group room, or in a direct message across a block: RoomReadMarks.read).
  toUserSockets(userId: string, frame: RoomServerFrame): void {
    this.userLocal(userId, frame);
    this.bus.publish(TOPIC, { k: 'user', user: userId, frame } satisfies RoomBusMessage);
  }

  // Every subscribed socket of the room on every instance, except `except` (the sender, acked instead).
  toRoom(roomId: string, frame: RoomServerFrame, except?: Connection): void {
    this.fanOut.deliver(roomId, frame, except?.id);
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

  // A member's presence changed: told to the room's sockets, coalesced per room (PRESENCE-004); the
  // presence store's version of the announcement keeps the newest where they cross.
  presence(roomId: string, userId: string, status: PresenceStatus, version: number): void {
    this.presencePace.note(roomId, userId, status, version);
    this.bus.publish(TOPIC, {
      k: 'presence',
      room: roomId,
      user: userId,
      status,
      v: version,
    } satisfies RoomBusMessage);
  }

  // A member's presence changed, for each of `roomIds` (the rooms of theirs it is shown in): one bus
  // message for all of them, each instance noting the rooms it serves. One per room cost a publish
  // per room on this instance and a message per room on every instance for each change: until the
  // quota audit of session 41 a member of 3,000 rooms who changed status ten times a second (the
  // room frames' budget) made 120,000-280,000 Redis commands in 6-9 s and another user's chat acks
  // went from 6 ms to 224-708 ms at p50 (3 of 3 runs).
  presenceInRooms(roomIds: string[], userId: string, status: PresenceStatus, version: number): void {
    if (roomIds.length === 0) return;
    for (const roomId of roomIds) this.presencePace.note(roomId, userId, status, version);
    this.bus.publish(TOPIC, {
      k: 'presences',
      rooms: roomIds,
      user: userId,
      status,
      v: version,
    } satisfies RoomBusMessage);
  }

  // How a direct message's presence frames are checked as they go out (RoomPresencePace.screen).
  screenPresence(shown: (roomId: string, userId: string) => Promise<boolean>): void {
    this.presencePace.screen(shown);
  }

  // A member's last announcement, read again after the bus was away: told to this instance's
  // sockets of the room only when newer than the one noted here (each instance reads its own).
  presenceRefreshed(roomId: string, userId: string, status: PresenceStatus, version: number): void {
    this.presencePace.note(roomId, userId, status, version, true);
  }

  send(connection: Connection, frame: RoomServerFrame): void {
    writeData(connection, JSON.stringify(frame));
  }

  private receive(message: RoomBusMessage): void {
    switch (message.k) {
      case 'frame':
        return this.fanOut.deliver(message.room, message.frame, message.except);
      case 'revoke':
        return this.revokeLocal(message.room, message.user);
      case 'presence':
        return this.presencePace.note(message.room, message.user, message.status, message.v);
      case 'presences':
        for (const roomId of message.rooms)
          this.presencePace.note(roomId, message.user, message.status, message.v);
        return;
      case 'user':
        return this.userLocal(message.user, message.frame);
      case 'public_rooms':
        return this.publicRoomsLocal();
    }
  }

  private userLocal(userId: string, frame: RoomServerFrame): void {
    const sockets = this.ofUser.get(userId);
    if (!sockets) return;
    const data = new EncodedFrame(JSON.stringify(frame));
    for (const connection of sockets) writeData(connection, data);
  }

  private revokeLocal(roomId: string, userId: string): void {
    // the member's presence version goes too, in a while (RoomPresencePace.forgetMember)
    this.presencePace.forgetMember(roomId, userId);
    for (const subscription of [...(this.rooms.get(roomId)?.values() ?? [])])
      if (subscription.connection.principal.userId === userId)
        this.unsubscribe(subscription.connection, roomId);
  }
}

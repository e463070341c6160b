import type { RoomServerFrame } from '../../protocol/rooms';
import { SeqPrefix } from '../../protocol/seq-prefix';
import { CLOSE_SLOW_CLIENT, EncodedFrame, writeData } from '../realtime/write-data';
import type { Connection } from '../realtime/connection';
import { SeqOrder } from '../realtime/delivery-order';
import { isStoredRoomFrame, messageFrame } from './room-frames';
import { HeldFrames } from './room-held-frames';
import type { RoomMessagesRepository } from './room-messages.repository';
import type { RoomMessageRecord } from './room.types';
import { closeSocket } from '../realtime/close-socket';

const GAP_FILL_LIMIT = 500;
// how long a room's stored messages wait for an earlier seq before the room reads it from the store
// (once for all its sockets here)
export const ROOM_GAP_MS = 100;

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
export class Subscription extends SeqPrefix<RoomServerFrame | null> {
  // while a join replays history, live frames wait here so nothing is missed or doubled (bounded:
  // room-held-frames.ts)
  pending: HeldFrames | null;

  constructor(
    readonly connection: Connection,
    pending = new HeldFrames(),
  ) {
    super(0);
    this.pending = pending;
  }
}

// This instance's delivery of its rooms' frames to the sockets subscribed here (RoomHub holds the
// subscriptions and constructs it): stored messages put back in seq order once per room, and each
// frame serialized once for all its sockets.
export class RoomFanOut {
  private readonly orders = new Map<string, SeqOrder<RoomServerFrame>>();
  private readonly sequences = new Map<string, RoomSequence>();
  private lastFrame?: RoomServerFrame;
  private lastData = new EncodedFrame('');

  constructor(
    // RoomHub's subscriptions, by room and then by connection id
    private readonly rooms: ReadonlyMap<string, ReadonlyMap<string, Subscription>>,
    private readonly messages: RoomMessagesRepository,
  ) {}

  // A frame of the room to its sockets here, except `exceptId` (the sender, acked instead).
  deliver(roomId: string, frame: RoomServerFrame, exceptId?: string): void {
    if (frame.type === 'chat') this.messages.noteStored(roomId, frame.seq);
    if (!this.rooms.has(roomId)) return;
    // an edit, a delete or a reaction of a message held here (a lower seq missing), or of one this
    // instance has not had at all yet, goes out right after it: the client drops a change to a
    // message it does not hold, and would then show the message as it was stored, without the
    // reaction, the edit or the delete (docs/protocol.md, "Guarantees")
    if (isChangeFrame(frame)) {
      const sequence = this.sequences.get(roomId) ?? this.startSequence(roomId);
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

  // A change came before any stored message of the room went out here since its sockets joined (a
  // quiet room): the room's order starts where its sockets stand (the lowest of their points: every
  // message up to it is had by all of them), so a change of a message above it waits for the message
  // (`early`, then the gap read) as in a room that had one. None when no socket here stands anywhere
  // yet (every join still replaying: their frames wait until ready). Until the pause audit of session
  // 44 such a change went out at once, ahead of its message still on its way from a paused instance,
  // and every member here showed the message as before the change (3 of 3 runs for each of delete,
  // edit and react).
  private startSequence(roomId: string): RoomSequence | undefined {
    let point: number | undefined;
    for (const subscription of this.rooms.get(roomId)?.values() ?? [])
      if (!subscription.pending && (point === undefined || subscription.point < point))
        point = subscription.point;
    if (point === undefined) return undefined;
    const sequence: RoomSequence = { prefix: new SeqPrefix(point) };
    this.sequences.set(roomId, sequence);
    return sequence;
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
      else if (subscription.pending) this.hold(subscription, subscription.pending, frame);
      else if (data !== undefined && subscription.takeNext(seq)) writeData(subscription.connection, data);
      else order.deliver(subscription.connection, frame);
    }
  }

  // a socket whose join replays history: the frame waits; one that lets too much wait is too slow for
  // its room (docs/protocol.md, "Join replays")
  private hold(subscription: Subscription, pending: HeldFrames, frame: RoomServerFrame): void {
    if (!pending.add(frame))
      closeSocket(
        subscription.connection.socket,
        CLOSE_SLOW_CLIENT,
        'client too slow; reconnect to catch up',
      );
  }

  // the socket left the room: its place in the room's order goes
  forget(connection: Connection, roomId: string): void {
    this.orders.get(roomId)?.forget(connection);
  }

  // nobody here is in the room any more: its order and its sequence go
  forgetRoom(roomId: string): void {
    this.orders.delete(roomId);
    clearTimeout(this.sequences.get(roomId)?.timer);
    this.sequences.delete(roomId);
  }

  // the room's SeqOrder (each socket's place, what it holds, its gap reads), made on first use
  orderOf(roomId: string): SeqOrder<RoomServerFrame> {
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

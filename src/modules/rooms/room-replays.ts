import { Inject, Injectable } from '@nestjs/common';
import { ReadGate } from '../../common/read-gate';
import { SETTINGS, type Settings } from '../../config/settings';
import type { RoomMessageFrame } from '../../protocol/rooms';
import { CLOSE_SLOW_CLIENT, drained } from '../realtime/write-data';
import type { Subscription } from './room-fan-out';
import { HeldFrames } from './room-held-frames';
import { RoomHub } from './room-hub';
import { REPLAY_PAGE } from './room-message-reads';
import { RoomMessagesService } from './room-messages.service';
import { closeSocket } from '../realtime/close-socket';

// a page's frames at most, each message at MAX_MESSAGE_LENGTH characters of up to three UTF-8 bytes
// and its envelope: fewer than REPLAY_PAGE messages to a page when messages may be that long
const REPLAY_PAGE_BYTES = 2 * 1024 * 1024;
const FRAME_ENVELOPE_BYTES = 2048;
// the next page is read once the socket holds at most this much unsent, waited for at most
// REPLAY_DRAIN_MS (a page on top of it stays under the 4 MiB a socket may hold: write-data.ts)
export const REPLAY_BUFFERED_BYTES = 1024 * 1024;
const REPLAY_DRAIN_MS = 10_000;
// pages of long replays read at once on an instance, one per user (ReadGate)
export const REPLAY_PAGES_AT_ONCE = 8;
// what a replaying socket lets wait of its room's live frames (room-held-frames.ts): stored messages
// (the store holds those past it, and the replay reads them), and frames of other kinds
export const REPLAY_HELD_MESSAGES = REPLAY_PAGE;
export const REPLAY_HELD_OTHERS = 1000;

// messages to a page for MAX_MESSAGE_LENGTH
export function replayPageSize(maxMessageLength: number): number {
  const largest = maxMessageLength * 3 + FRAME_ENVELOPE_BYTES;
  return Math.max(1, Math.min(REPLAY_PAGE, Math.floor(REPLAY_PAGE_BYTES / largest)));
}

// What a join's replay does, one step at a time (RoomReplays gives the real ones; the spec its own).
export interface ReplaySteps {
  // The socket took what was sent (at most REPLAY_BUFFERED_BYTES left). false: it did not in time
  // (closed as too slow) or is closed.
  drained(): Promise<boolean>;
  // the join still wants its replay: the socket open, and its subscription to the room still this
  // join's (not left, revoked, closed, nor made again by a later join)
  current(): boolean;
  // a place to read a page in (the gate); resolves with its release
  place(): Promise<() => void>;
  // up to `limit` stored messages after `after`, oldest first; the room's newest when undefined
  read(after: number | undefined, limit: number): Promise<RoomMessageFrame[]>;
  // the membership read again, after the page's read: throws when the user is no longer a member
  check(): Promise<void>;
  send(frame: RoomMessageFrame): void;
  // the room's live frames waiting for the socket meanwhile
  held: Pick<HeldFrames, 'passedOver' | 'sentThrough'>;
}

export interface Replayed {
  // messages sent
  count: number;
  // the socket has every stored message up to here
  point: number;
}

// A join's replay in pages (docs/protocol.md, "Rooms", "Join replays"): every stored message after
// `lastSeq` (the room's newest page on a first join, `lastSeq` undefined), in seq order, once each.
// Each page is read once the socket took the one before (so what the replay holds is a page, not
// the room), behind a place in the gate from the second page on, and sent only after the membership
// was read again (a kick or ban that landed meanwhile refuses the join: nothing stored after it is
// sent). The replay ends at a page shorter than asked, which holds every message stored when it was
// read, unless a live message passed over meanwhile (the held frames full: HeldFrames) lies past it:
// then it reads on. A message's seq is taken only once the one before it is stored, so a message
// passed over before a read was made is in it, or was removed since; and so is everything up to
// `floor`, where the room's numbering stood before the first read (its last_seq: retention may have
// removed every message). The socket stands past both, not below a seq no read will bring (it would
// wait for a gap read before its first live message). null: the replay stopped (the socket closed,
// or was closed as too slow; the join was left or made again).
// The first page takes no place: it is what every join reads, a page as a history read is (joins
// are paced by the control frames' budget), and a socket that reconnects to its rooms is not queued
// behind other users' long replays; only a replay longer than a page holds pages one after another.
export async function replayPages(
  steps: ReplaySteps,
  lastSeq: number | undefined,
  pageSize: number,
  floor = 0,
): Promise<Replayed | null> {
  let point = lastSeq ?? 0;
  let count = 0;
  steps.held.sentThrough(point);
  for (let page = 0; ; page++) {
    if (!(await steps.drained()) || !steps.current()) return null;
    const release = page === 0 ? undefined : await steps.place();
    const newest = page === 0 && lastSeq === undefined;
    let frames: RoomMessageFrame[];
    let passedOver: number;
    try {
      if (!steps.current()) return null;
      passedOver = steps.held.passedOver;
      frames = await steps.read(newest ? undefined : point, pageSize);
      await steps.check();
      if (!steps.current()) return null;
      for (const frame of frames) steps.send(frame);
    } finally {
      release?.();
    }
    count += frames.length;
    // the newest page holds everything up to its last message, and a short one all there was
    const whole = newest || frames.length < pageSize;
    if (frames.length > 0) point = frames[frames.length - 1].seq;
    if (whole) point = Math.max(point, passedOver, floor);
    steps.held.sentThrough(point);
    if (whole && steps.held.passedOver <= point) return { count, point };
  }
}

// The joins' replays on this instance: pages, their gate (REPLAY_PAGES_AT_ONCE, one per user), and
// what each replaying socket lets wait.
@Injectable()
export class RoomReplays {
  private readonly gate = new ReadGate(REPLAY_PAGES_AT_ONCE, Infinity);
  private readonly pageSize: number;

  constructor(
    private readonly messages: RoomMessagesService,
    private readonly hub: RoomHub,
    @Inject(SETTINGS) settings: Pick<Settings, 'maxMessageLength'>,
  ) {
    this.pageSize = replayPageSize(settings.maxMessageLength);
  }

  // pages of long replays being read now on the instance, and waiting for a place
  get reading(): { active: number; waiting: number } {
    return { active: this.gate.active, waiting: this.gate.waiting };
  }

  // what a joining socket's subscription holds of the room's live frames until ready()
  held(): HeldFrames {
    return new HeldFrames(REPLAY_HELD_MESSAGES, REPLAY_HELD_OTHERS);
  }

  // The replay of `subscription`'s join (made with held()): see replayPages.
  run(
    subscription: Subscription,
    roomId: string,
    lastSeq: number | undefined,
    floor: number,
  ): Promise<Replayed | null> {
    const connection = subscription.connection;
    const userId = connection.principal.userId;
    const held = subscription.pending ?? new HeldFrames();
    return replayPages(
      {
        drained: async () => {
          if (await drained(connection, REPLAY_BUFFERED_BYTES, REPLAY_DRAIN_MS)) return true;
          closeSocket(connection.socket, CLOSE_SLOW_CLIENT, 'client too slow; reconnect to catch up');
          return false;
        },
        current: () =>
          !connection.closed &&
          connection.socket.readyState === connection.socket.OPEN &&
          this.hub.holds(subscription, roomId),
        // a socket's replay waits for its place (a user's sockets and joins are bounded already)
        place: () => this.gate.enter(userId, Infinity),
        read: (after, limit) => this.messages.replay(roomId, after, limit),
        check: async () => {
          await this.messages.memberOf(roomId, userId);
        },
        send: (frame) => this.hub.send(connection, frame),
        held,
      },
      lastSeq,
      this.pageSize,
      floor,
    );
  }
}

import type { PresenceStatus, RoomServerFrame } from '../../protocol/rooms';
import type { RoomFanOut } from './room-fan-out';
import { isDmRoomId } from './room-rules';

// at most one presence frame per room per second reaches a socket (PRESENCE-004)
export const PRESENCE_COALESCE_MS = 1000;
// How long a member's version outlives their offline or their leaving the room: longer than an older
// announcement of theirs can still be on its way (RoomPresence reads the last announcement's version
// just before it publishes, so what is in flight is at most a Redis command's time old: 2 s, and the
// bus's hop)
export const PRESENCE_FORGET_MS = 5_000;

// Presence changes of the members of this instance's rooms, folded into at most one `presence` frame
// per room per second (PRESENCE-004); RoomHub constructs it and tells it every change.
export class RoomPresencePace {
  // per room: each member's newest status, and whose change came last (the frame's user_id)
  private readonly presencePending = new Map<
    string,
    { users: Map<string, PresenceStatus>; newest: string }
  >();
  private readonly presenceTimers = new Map<string, NodeJS.Timeout>();
  private readonly presenceSentAt = new Map<string, number>();
  // per room: the newest announcement's version noted of each member. The instances' announcements
  // come through a membership read and the bus, each taking its own time: an older one that comes
  // after a newer one is dropped, so every instance ends with the newest (docs/protocol.md, "Presence")
  // Kept while the member is announced online or away; dropped PRESENCE_FORGET_MS after they are
  // announced offline (unless a newer announcement came since) or lose their membership here (leave,
  // kick, ban: RoomHub.revokeLocal), once no older announcement can still come. Until the memory-leak
  // audit of session 43 a room that always had a socket here kept the version of every user who ever
  // joined it (600 came, left and closed: 601 held; 300 by another instance: 301 held on this one).
  private readonly versions = new Map<string, Map<string, number>>();
  // the versions to drop, by room and member, in the order they are due: at `due`, when the member's
  // version is still `version` (none: whatever it is, a revoke's)
  private readonly forgetting = new Map<
    string,
    { roomId: string; userId: string; version?: number; due: number }
  >();
  private forgetTimer?: NodeJS.Timeout;
  // Whether a direct message may be told of the user's presence now (not across a block, either way:
  // RoomPresence), asked again when the frame goes out. A change is checked when it is noted too, but
  // it may wait up to a second here: until the DMs audit of session 41 one noted just before a block
  // went out after the block's 200 (6 of 6 rounds; test/e2e/rooms-presence-blocks.e2e-spec.ts).
  private shown?: (roomId: string, userId: string) => Promise<boolean>;
  // per direct message: its frame being checked, so the room's frames still go out in order
  private readonly screening = new Map<string, Promise<void>>();

  constructor(
    // RoomHub's subscriptions by room: a room nobody here is in gets no frame
    private readonly rooms: ReadonlyMap<string, unknown>,
    private readonly fanOut: RoomFanOut,
  ) {}

  // A member's presence in the room changed (here or on another instance): in its next frame, unless
  // a newer announcement of the member was noted already. No version: an instance of the earlier
  // release (a rolling deploy), taken as it comes. `onlyNewer`: a refresh after an outage, dropped
  // when this announcement was noted already.
  note(roomId: string, userId: string, status: PresenceStatus, version?: number, onlyNewer = false): void {
    if (!this.rooms.has(roomId)) return;
    if (version !== undefined) {
      let known = this.versions.get(roomId);
      if (!known) this.versions.set(roomId, (known = new Map()));
      const noted = known.get(userId) ?? 0;
      if (version < noted || (onlyNewer && version === noted)) return;
      known.set(userId, version);
      if (status === 'offline') this.forgetLater(roomId, userId, version);
    }
    let pending = this.presencePending.get(roomId);
    if (!pending) this.presencePending.set(roomId, (pending = { users: new Map(), newest: userId }));
    pending.users.set(userId, status);
    pending.newest = userId;
    if (this.presenceTimers.has(roomId)) return;
    const wait = Math.max(0, (this.presenceSentAt.get(roomId) ?? 0) + PRESENCE_COALESCE_MS - Date.now());
    const timer = setTimeout(() => this.flushPresence(roomId), wait);
    timer.unref();
    this.presenceTimers.set(roomId, timer);
  }

  // RoomPresence's check of a direct message's frames as they go out
  screen(shown: (roomId: string, userId: string) => Promise<boolean>): void {
    this.shown = shown;
  }

  private flushPresence(roomId: string): void {
    this.presenceTimers.delete(roomId);
    const pending = this.presencePending.get(roomId);
    this.presencePending.delete(roomId);
    if (!pending || pending.users.size === 0) return;
    this.presenceSentAt.set(roomId, Date.now());
    const users = [...pending.users].map(([user_id, status]) => ({ user_id, status }));
    const frame: RoomServerFrame = {
      type: 'presence',
      room_id: roomId,
      user_id: pending.newest,
      timestamp: new Date().toISOString(),
      metadata: { users },
    };
    // forget rooms nobody here listens to any more
    if (!this.rooms.has(roomId)) this.presenceSentAt.delete(roomId);
    const shown = this.shown;
    if (!shown || !isDmRoomId(roomId)) return this.fanOut.deliver(roomId, frame);
    // a direct message: sent only when no block stands between the pair now (a block is either way,
    // so one member's blocks tell it); dropped when that cannot be read, as a change is when noted
    const screened = (this.screening.get(roomId) ?? Promise.resolve())
      .then(() => shown(roomId, pending.newest))
      .then(
        (show) => {
          if (show) this.fanOut.deliver(roomId, frame);
        },
        () => undefined,
      )
      .finally(() => {
        if (this.screening.get(roomId) === screened) this.screening.delete(roomId);
      });
    this.screening.set(roomId, screened);
  }

  // nobody here is in the room any more: its presence frames' pace and versions go (a pending flush
  // forgets the pace itself)
  forgetRoom(roomId: string): void {
    this.versions.delete(roomId);
    if (!this.presenceTimers.has(roomId)) this.presenceSentAt.delete(roomId);
  }

  // The user is no longer a member of the room (RoomHub.revokeLocal): their version goes once an
  // announcement of theirs read before they left can no longer come, whatever was noted meanwhile (a
  // rejoin's is noted again by its next change; what comes after it is newer).
  forgetMember(roomId: string, userId: string): void {
    if (this.versions.get(roomId)?.has(userId)) this.forgetLater(roomId, userId);
  }

  private forgetLater(roomId: string, userId: string, version?: number): void {
    const key = `${roomId}\n${userId}`;
    const earlier = this.forgetting.get(key);
    // a revoke's stands over an offline's
    const kept = earlier && earlier.version === undefined ? undefined : version;
    this.forgetting.delete(key);
    this.forgetting.set(key, { roomId, userId, version: kept, due: Date.now() + PRESENCE_FORGET_MS });
    if (!this.forgetTimer) this.scheduleForget();
  }

  private scheduleForget(): void {
    const next = this.forgetting.values().next();
    if (next.done) return;
    const timer = setTimeout(() => this.forgetDue(), Math.max(0, next.value.due - Date.now()));
    timer.unref();
    this.forgetTimer = timer;
  }

  private forgetDue(): void {
    this.forgetTimer = undefined;
    const now = Date.now();
    for (const [key, item] of this.forgetting) {
      if (item.due > now) break;
      this.forgetting.delete(key);
      const known = this.versions.get(item.roomId);
      if (!known || (item.version !== undefined && known.get(item.userId) !== item.version)) continue;
      known.delete(item.userId);
      if (known.size === 0) this.versions.delete(item.roomId);
    }
    this.scheduleForget();
  }
}

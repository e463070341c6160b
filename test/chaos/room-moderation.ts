import WebSocket from 'ws';
import { uniqueUser, userToken } from '../helpers/tokens';
import { errorCode, onFrames, openLine, pick, restCall, roomUrl, sleep } from './sockets';

// Kicks and bans in the rooms chaos run (test/chaos/room-chaos.ts), under the same faults
// (docs/protocol.md, "Rooms, direct messages, moderation"). Two moderation loops (one kicking, one
// banning) go on for the whole run; each turn takes a new user, the victim:
// - a kick's victim is invited to the private room, a ban's joins a public room (both rooms have
//   the members' traffic); the victim keeps a listening socket on each instance, joined to the room
//   (resumed with last_seq, cut every 2–5 s, lost with its instance like any socket);
// - once the victim is in, the room's owner kicks or bans it over REST on a random instance, sent
//   again until it answers 200 (the ack);
// - after the ack the victim reads the room's history over REST and joins it over REST, and every
//   listening socket that comes back joins once more: each must be refused, NOT_A_MEMBER after a
//   kick (a private room needs a new invitation), BANNED after a ban.
// Afterwards (the rooms' histories read), per victim, K = the seq of the first system message of
// its removal. The removal revokes the victim's subscriptions on every instance before that message
// is stored (RoomMembershipService.moderate), so every message stored after it (seq > K) was stored
// after the revoke: none may reach any socket of the victim, at any time. Messages with a seq below K may
// still reach a socket after the ack (stored before the removal, on their way): counted apart
// (`inFlight`), not a fault. The ack itself is no bound: a message stored between K and the ack's
// arrival is past the revoke already.

export interface ModerationCounts {
  // removals acked
  kicks: number;
  bans: number;
  // after an ack: joins (socket and REST) and history reads refused with the right code
  refusals: number;
  // frames of the room with a seq above the removal's system message, on any socket of the victim
  removedDelivered: number;
  // after an ack: a history read that was not refused with the right code
  removedRead: number;
  // after an ack: a join (socket or REST) that was not refused with the right code
  rejoined: number;
  // an acked removal whose system message is not in the room's history
  removalsLost: number;
  // frames with a seq below the removal's message that reached the victim after the ack
  inFlight: number;
}

export interface StoredSystemMessage {
  seq: number;
  metadata?: { action?: string; target_user_id?: string };
}

interface Victim {
  user: string;
  token: string;
  roomId: string;
  action: 'kick' | 'ban';
  joined: boolean;
  // when the removal was acked
  removedAt?: number;
  // the room's frames the victim's sockets got: seq, and when
  deliveries: Array<{ seq: number; at: number }>;
  top: number;
  done: boolean;
  sockets: Set<WebSocket>;
}

export interface ModerationOptions {
  moderatorToken: string;
  privateRoom: string;
  publicRooms: string[];
  // error codes (and REST statuses) met on the way, counted with the rooms' errors
  note: (what: string) => void;
  // CHAOS_VERBOSE lines
  log: (line: string) => void;
}

// codes that say the instance could not serve the request now (the store or Redis away, a budget):
// try again
const PASSING = new Set(['INTERNAL', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE']);
// how long a victim is watched after its removal's ack
const WATCH_AFTER_MS = 4000;

// nothing counted yet
export function noRemovals(): ModerationCounts {
  return {
    kicks: 0,
    bans: 0,
    refusals: 0,
    removedDelivered: 0,
    removedRead: 0,
    rejoined: 0,
    removalsLost: 0,
    inFlight: 0,
  };
}

export class ModerationChaos {
  private readonly victims: Victim[] = [];
  private listening = true;
  private next = 0;
  private readonly counts = noRemovals();

  constructor(private readonly options: ModerationOptions) {}

  async run(ports: number[], deadline: number): Promise<void> {
    await Promise.all(
      (['kick', 'ban'] as const).map(async (action) => {
        while (this.listening && Date.now() < deadline - WATCH_AFTER_MS) {
          await this.turn(action, ports, deadline);
          await sleep(300 + Math.random() * 700);
        }
      }),
    );
  }

  stop(): void {
    this.listening = false;
    for (const victim of this.victims) this.dismiss(victim);
  }

  // One victim: in, removed (sent again until acked), refused, watched for a while.
  private async turn(action: 'kick' | 'ban', ports: number[], deadline: number): Promise<void> {
    const user = uniqueUser(action === 'kick' ? 'kicked' : 'banned');
    const victim: Victim = {
      user,
      token: userToken(user, { expiresInSeconds: 7200 }),
      roomId: action === 'kick' ? this.options.privateRoom : pick(this.options.publicRooms),
      action,
      joined: false,
      deliveries: [],
      top: 0,
      done: false,
      sockets: new Set(),
    };
    if (action === 'kick') {
      const invited = await this.until(deadline, ports, (port) =>
        restCall(port, this.options.moderatorToken, 'POST', `/rooms/${victim.roomId}/invite`, {
          user_id: user,
        }),
      );
      if (!invited) return;
    }
    this.victims.push(victim);
    for (const port of ports) void this.listen(victim, port);
    const joinedBy = Date.now() + 15_000;
    while (!victim.joined && Date.now() < joinedBy && this.listening) await sleep(50);
    // the room's traffic reaches the victim for a moment
    await sleep(300 + Math.random() * 1200);
    const removed = await this.until(deadline + 30_000, ports, (port) =>
      restCall(port, this.options.moderatorToken, 'POST', `/rooms/${victim.roomId}/moderation/${action}`, {
        user_id: user,
      }),
    );
    if (!removed) return;
    victim.removedAt = Date.now();
    this.options.log(`${action} of ${user} in ${victim.roomId} acked`);
    if (action === 'kick') this.counts.kicks++;
    else this.counts.bans++;
    const expected = action === 'kick' ? 'NOT_A_MEMBER' : 'BANNED';
    for (const [method, path, fault] of [
      ['GET', `/rooms/${victim.roomId}/messages?limit=5`, 'removedRead'],
      ['POST', `/rooms/${victim.roomId}/join`, 'rejoined'],
    ] as const) {
      const answer = await this.until(
        deadline + 30_000,
        ports,
        (port) => restCall(port, victim.token, method, path),
        true,
      );
      if (!answer) continue;
      if (answer.status === 403 && errorCode(answer.body) === expected) this.counts.refusals++;
      else {
        this.counts[fault]++;
        console.log(
          `chaos rooms: ${user} after its ${action}: ${method} ${path} answered ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`,
        );
      }
    }
    await sleep(Math.max(0, victim.removedAt + WATCH_AFTER_MS - Date.now()));
    this.dismiss(victim);
  }

  // A REST call on a random instance, made again (on any instance) while it fails for want of the
  // store, Redis or the instance itself; the answer (2xx, or any 4xx with `settled`), or undefined
  // past the deadline.
  private async until(
    deadline: number,
    ports: number[],
    call: (port: number) => Promise<{ status: number; body: unknown }>,
    settled = false,
  ): Promise<{ status: number; body: unknown } | undefined> {
    while (Date.now() < deadline) {
      try {
        const answer = await call(pick(ports));
        if (answer.status < 300) return answer;
        const code = errorCode(answer.body) ?? String(answer.status);
        if (settled && answer.status < 500 && !PASSING.has(code)) return answer;
        this.options.note(`rest:${code}`);
      } catch {
        this.options.note('rest:network');
      }
      await sleep(200);
    }
    return undefined;
  }

  private dismiss(victim: Victim): void {
    victim.done = true;
    for (const socket of victim.sockets) socket.terminate();
  }

  // One listening device of the victim, on one instance: joins the room, and again after every drop.
  private async listen(victim: Victim, port: number): Promise<void> {
    while (this.listening && !victim.done) {
      const socket = await openLine(roomUrl(port, victim.token));
      if (!socket) {
        await sleep(200);
        continue;
      }
      victim.sockets.add(socket);
      const cut = setTimeout(() => socket.terminate(), 2000 + Math.random() * 3000);
      await this.watch(victim, socket);
      clearTimeout(cut);
      victim.sockets.delete(socket);
    }
  }

  // Joins the room on the socket (tried again while the instance cannot serve it; once only after the
  // removal's ack, which must refuse it) and records every frame of the room it brings.
  private watch(victim: Victim, socket: WebSocket): Promise<void> {
    return new Promise((resolve) => {
      let clientId = '';
      let sentAfterRemoval = false;
      const join = () => {
        if (socket.readyState !== WebSocket.OPEN || victim.done) return;
        clientId = `victim-join-${this.next++}`;
        sentAfterRemoval = victim.removedAt !== undefined;
        socket.send(
          JSON.stringify({
            type: 'join',
            room_id: victim.roomId,
            client_id: clientId,
            ...(victim.top > 0 ? { last_seq: victim.top } : {}),
          }),
        );
      };
      onFrames(socket, (data) => {
        const frame = JSON.parse(data) as {
          type: string;
          room_id?: string;
          client_id?: string;
          seq?: number;
          error?: { code: string };
        };
        if (frame.type === 'connection_status' && clientId === '') return join();
        if (frame.client_id !== undefined && frame.client_id === clientId) {
          if (frame.type === 'join') {
            if (!sentAfterRemoval) victim.joined = true;
            else {
              this.counts.rejoined++;
              console.log(
                `chaos rooms: ${victim.user} joined ${victim.roomId} again after its ${victim.action}`,
              );
            }
          } else if (frame.type === 'error') {
            const code = frame.error?.code ?? 'unknown';
            const expected = victim.action === 'kick' ? 'NOT_A_MEMBER' : 'BANNED';
            if (PASSING.has(code)) {
              this.options.note(code);
              setTimeout(join, 300);
            } else if (!sentAfterRemoval) {
              // refused before the ack: the removal landed meanwhile, or the store is away
              this.options.note(`victim:${code}`);
              if (victim.removedAt === undefined) setTimeout(join, 300);
            } else if (code === expected) this.counts.refusals++;
            else {
              this.counts.rejoined++;
              console.log(
                `chaos rooms: ${victim.user}'s join after its ${victim.action} refused with ${code}`,
              );
            }
          }
          return;
        }
        if (frame.type !== 'chat' || frame.room_id !== victim.roomId || frame.seq === undefined) return;
        victim.deliveries.push({ seq: frame.seq, at: Date.now() });
        victim.top = Math.max(victim.top, frame.seq);
      });
      socket.once('close', () => resolve());
    });
  }

  // Every acked removal against the room's history (read after the run).
  check(histories: Map<string, StoredSystemMessage[]>): ModerationCounts {
    const counts = this.counts;
    for (const victim of this.victims) {
      if (victim.removedAt === undefined) continue;
      const removal = histories
        .get(victim.roomId)
        ?.find(
          (message) =>
            message.metadata?.action === victim.action && message.metadata?.target_user_id === victim.user,
        );
      if (!removal) {
        counts.removalsLost++;
        console.log(`chaos rooms: the ${victim.action} of ${victim.user} is not in ${victim.roomId}`);
        continue;
      }
      for (const delivery of victim.deliveries) {
        if (delivery.seq > removal.seq) {
          counts.removedDelivered++;
          console.log(
            `chaos rooms: ${victim.user} got seq ${delivery.seq} of ${victim.roomId}, above its ${victim.action} at seq ${removal.seq}, ${delivery.at - victim.removedAt} ms after the ack`,
          );
        } else if (delivery.at > victim.removedAt) counts.inFlight++;
      }
    }
    return counts;
  }
}

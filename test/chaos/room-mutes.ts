import { errorCode, pick, restCall, sleep } from './sockets';

// Mutes in the rooms chaos run (test/chaos/room-chaos.ts), under the same faults (docs/protocol.md,
// "Rooms, direct messages, moderation"): the rooms' owner mutes a member in one of the shared rooms
// over REST on a random instance (sent again until it answers 200: the ack), lets it last 1–2.5 s,
// unmutes it the same way, and again with another member or room; one mute at a time. The members
// go on sending meanwhile (a refused message is kept and sent again, the same client_id, until acked).
//
// What can be asserted soundly. The test's clock orders what the test did: a mute's ack came back
// before anything sent after it, and the mute was written before its ack. A copy is checked by the
// server at some moment between its send and its answer (not at its send: a store restart can hold
// it for seconds). So a copy of a message or an edit the member sent after the mute's ack and
// answered before the unmute's first send reached a server that had the mute already: it must be
// refused with MUTED (`retry_after` set), never acked. The first copy of the same client_id must have
// gone out after the mute's ack too, else the ack may be that of a copy stored before the mute (a
// resend gets the stored copy's ack). A copy whose send-to-answer span meets no mute (from the mute's
// first send to the unmute's ack) must never be refused MUTED. Which way a copy goes whose span
// meets a mute's or an unmute's write is open: counted, not a fault. An ack's arrival order is no
// bound: a message checked and stored before the mute may be acked after it. What the room's order
// says about such a race is counted apart (`mutedRaced`): a message of the muted member stored after
// the mute's system message though its first copy went out before the mute's ack.

export interface MuteCounts {
  // mutes and unmutes acked
  mutes: number;
  unmutes: number;
  // copies refused MUTED (during a mute, or racing one)
  mutedRefusals: number;
  // a message or edit acked for a copy sent and answered while surely muted (first copy sent then
  // too): must be 0
  mutedAccepted: number;
  // a copy sent while surely muted refused with another code than MUTED (or MUTED without
  // retry_after), other than the store or Redis being away (INTERNAL, RATE_LIMITED, SERVICE_UNAVAILABLE)
  mutedWrongCode: number;
  // a copy sent and answered while surely not muted refused MUTED
  unmutedRefused: number;
  // messages of the muted member stored after the mute's system message, their first copy sent before
  // the mute's ack (the check passed before the mute was written): not a fault, counted
  mutedRaced: number;
}

export interface Mute {
  user: string;
  roomId: string;
  muteSentAt: number;
  muteAckedAt?: number;
  unmuteSentAt?: number;
  unmuteAckedAt?: number;
}

// one copy of a chat or edit the member sent, and how it was answered
export interface Copy {
  user: string;
  roomId: string;
  kind: 'chat' | 'edit';
  clientId: string;
  // when this copy and the first copy of its client_id went out, and when this copy was answered
  sentAt: number;
  firstSentAt: number;
  answeredAt: number;
  answer: { acked: true; seq?: number } | { acked: false; code: string; retryAfter?: number };
}

export interface StoredMuteMessage {
  seq: number;
  user_id: string;
  client_id?: string;
  timestamp?: string;
  metadata?: { kind?: string; action?: string; target_user_id?: string };
}

export interface MuteOptions {
  moderatorToken: string;
  // the shared rooms the moderator owns, and the members it may mute there
  rooms: string[];
  users: string[];
  note: (what: string) => void;
  log: (line: string) => void;
}

// the store or Redis away, or a budget: not a refusal of the mute
const PASSING = new Set(['INTERNAL', 'RATE_LIMITED', 'SERVICE_UNAVAILABLE']);
const MUTE_SECONDS = 20;

export function noMutes(): MuteCounts {
  return {
    mutes: 0,
    unmutes: 0,
    mutedRefusals: 0,
    mutedAccepted: 0,
    mutedWrongCode: 0,
    unmutedRefused: 0,
    mutedRaced: 0,
  };
}

export class MuteChaos {
  // every mute sent, in order (its times filled in as it goes)
  readonly mutes: Mute[] = [];
  private readonly copies: Copy[] = [];
  private running = true;

  constructor(private readonly options: MuteOptions) {}

  stop(): void {
    this.running = false;
  }

  async run(ports: number[], deadline: number): Promise<void> {
    while (this.running && Date.now() < deadline - 3000) {
      const mute: Mute = {
        user: pick(this.options.users),
        roomId: pick(this.options.rooms),
        muteSentAt: Date.now(),
      };
      this.mutes.push(mute);
      if (!(await this.moderate(ports, deadline + 30_000, mute, 'mute'))) return;
      mute.muteAckedAt = Date.now();
      this.options.log(`mute of ${mute.user} in ${mute.roomId} acked`);
      await sleep(1000 + Math.random() * 1500);
      mute.unmuteSentAt = Date.now();
      // the unmute goes out whatever the deadline: the member must be able to send again
      if (!(await this.moderate(ports, deadline + 60_000, mute, 'unmute'))) return;
      mute.unmuteAckedAt = Date.now();
      await sleep(300 + Math.random() * 700);
    }
  }

  private async moderate(ports: number[], until: number, mute: Mute, action: 'mute' | 'unmute') {
    while (Date.now() < until) {
      try {
        const answer = await restCall(
          pick(ports),
          this.options.moderatorToken,
          'POST',
          `/rooms/${mute.roomId}/moderation/${action}`,
          { user_id: mute.user, ...(action === 'mute' ? { duration_seconds: MUTE_SECONDS } : {}) },
        );
        if (answer.status < 300) return true;
        this.options.note(`rest:${errorCode(answer.body) ?? answer.status}`);
      } catch {
        this.options.note('rest:network');
      }
      await sleep(200);
    }
    return false;
  }

  // The room where the user is muted now (a mute sent, its unmute not acked yet): a muted member
  // keeps trying to talk there, so refusals and races happen in a one-minute run too.
  mutedRoom(user: string): string | undefined {
    return this.mutes.find((mute) => mute.user === user && mute.unmuteAckedAt === undefined)?.roomId;
  }

  // A member's copy of a chat or an edit in a room, and its answer (called by the sending loop).
  answered(copy: Copy): void {
    this.copies.push(copy);
  }

  // Every copy against the mutes, and the rooms' histories (read after the run) against the mutes'
  // system messages.
  check(histories: Map<string, StoredMuteMessage[]>, report: (line: string) => void): MuteCounts {
    const counts = noMutes();
    counts.mutes = this.mutes.filter((mute) => mute.muteAckedAt !== undefined).length;
    counts.unmutes = this.mutes.filter((mute) => mute.unmuteAckedAt !== undefined).length;
    for (const copy of this.copies) {
      const refusedMuted = !copy.answer.acked && copy.answer.code === 'MUTED';
      if (refusedMuted) counts.mutedRefusals++;
      const mutes = this.mutes.filter((mute) => mute.user === copy.user && mute.roomId === copy.roomId);
      const surely = mutes.find(
        (mute) =>
          mute.muteAckedAt !== undefined &&
          copy.sentAt > mute.muteAckedAt &&
          copy.answeredAt < (mute.unmuteSentAt ?? Infinity),
      );
      const what = `${copy.kind} ${copy.clientId} of ${copy.user} in ${copy.roomId}`;
      if (surely) {
        if (copy.answer.acked) {
          if (copy.firstSentAt > surely.muteAckedAt!) {
            counts.mutedAccepted++;
            report(
              `${what} acked (seq ${copy.answer.seq}) though sent ${copy.sentAt - surely.muteAckedAt!} ms after the mute's ack`,
            );
          }
        } else if (
          (copy.answer.code !== 'MUTED' && !PASSING.has(copy.answer.code)) ||
          (refusedMuted && !(Number(copy.answer.retryAfter) > 0))
        ) {
          counts.mutedWrongCode++;
          report(`${what} refused ${copy.answer.code} (retry_after ${copy.answer.retryAfter}) while muted`);
        }
        continue;
      }
      // racing no mute: its send-to-answer span meets no span from a mute's first send to its
      // unmute's ack
      const racing = mutes.some(
        (mute) => copy.answeredAt >= mute.muteSentAt && copy.sentAt <= (mute.unmuteAckedAt ?? Infinity),
      );
      if (refusedMuted && !racing) {
        counts.unmutedRefused++;
        const near = mutes
          .map(
            (mute) =>
              `[${mute.muteSentAt}, ${mute.muteAckedAt}, ${mute.unmuteSentAt}, ${mute.unmuteAckedAt}]`,
          )
          .join(' ');
        report(
          `${what} refused MUTED though no mute was on: sent ${copy.sentAt}, answered ${copy.answeredAt} (first ${copy.firstSentAt}); its mutes (sent, acked, unmute sent, acked): ${near || 'none'}`,
        );
      }
    }
    // the room's order: a message of the muted member stored after the mute's system message and
    // before the unmute was sent, its first copy sent before the mute's ack (the race)
    const firstSent = new Map<string, number>();
    for (const copy of this.copies)
      if (copy.kind === 'chat') firstSent.set(`${copy.user}|${copy.clientId}`, copy.firstSentAt);
    for (const mute of this.mutes) {
      if (mute.muteAckedAt === undefined) continue;
      const messages = this.options.rooms.includes(mute.roomId) ? (histories.get(mute.roomId) ?? []) : [];
      const system = messages.find(
        (message) =>
          message.metadata?.action === 'mute' &&
          message.metadata.target_user_id === mute.user &&
          Date.parse(message.timestamp ?? '') >= mute.muteSentAt - 5,
      );
      if (!system) continue;
      for (const message of messages) {
        if (message.seq <= system.seq || message.user_id !== mute.user || message.client_id === undefined)
          continue;
        if (Date.parse(message.timestamp ?? '') >= (mute.unmuteSentAt ?? Infinity)) continue;
        const first = firstSent.get(`${mute.user}|${message.client_id}`);
        if (first !== undefined && first < mute.muteAckedAt) {
          counts.mutedRaced++;
          report(
            `seq ${message.seq} of ${mute.user} in ${mute.roomId} stored after its mute (seq ${system.seq}), first sent ${mute.muteAckedAt - first} ms before the mute's ack`,
          );
        }
      }
    }
    return counts;
  }
}

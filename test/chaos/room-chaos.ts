import WebSocket from 'ws';
import { applyChangeFrame } from '../../client/chat/src/rooms/change-frames';
import { asMessageFrame } from '../../client/chat/src/rooms/message-parse';
import { RoomStore } from '../../client/chat/src/rooms/room-store';
import { oldestHeld, refreshHeld } from '../../client/chat/src/rooms/held-refresh';
import { readChanges, type ChangesPage } from '../../client/chat/src/rooms/change-read';
import { dmRoomId } from '../../src/modules/rooms/room-rules';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { ChangeLedger, type StoredChanges } from './room-changes';
import {
  ModerationChaos,
  noRemovals,
  type ModerationCounts,
  type StoredSystemMessage,
} from './room-moderation';
import { MuteChaos, noMutes, type MuteCounts, type StoredMuteMessage } from './room-mutes';
import { onFrames, openLine, pick, randomUrl, rest, restCall, roomUrl, sleep } from './sockets';

// The rooms half of the chaos run (docs/protocol.md, "Rooms"), in the same run and under the same
// faults as the AI sessions (test/chaos/chaos.ts):
// - members of a few public rooms, of a private room and of two direct messages (one opened by REST, one made by first
//   use of `@<user>` from both sides at once) send `chat` frames with client_ids, each on a fresh
//   socket to a random instance and endpoint (/ws/chat or /chat/ws), cut 30 % of them 0–40 ms after
//   the send and resend the same client_id until acked; between messages they edit their own acked
//   messages, add and take back reactions on recent ones and delete some of their own (the rooms'
//   owner deletes others' too), cut and resent the same way;
// - each member also keeps a listening socket (a second device) joined to all its rooms; it is cut
//   every few seconds, loses its instance to the faults, and comes back with `join` + `last_seq` =
//   the highest seq below which it holds everything;
// - churners join a public room, say something, leave, and again.
// - the rooms' owner kicks users from the private room and bans users from the public ones while
//   they listen (test/chaos/room-moderation.ts), and mutes and unmutes members while they send
//   (test/chaos/room-mutes.ts): a refused message is sent again until acked.
// Afterwards every room's history is read over REST (paging the cursor) and counted: acked but not
// stored, stored twice, seqs that are not exactly 1..n, acks naming another message than the stored
// one; texts, edited marks, reactions and deleted marks against the acked edits, reactions and
// deletes (room-changes.ts), and what the members' devices show of deleted messages; every mute
// against the copies sent while it was on (room-mutes.ts);
// and, for the listening sockets: each member resumes one last time and must then hold every
// stored message, no socket may have got a message twice (or one at or below its last_seq), nor
// one before a lower one; and every acked kick and ban: nothing stored after it reaches the removed
// user, whose history reads and joins are refused.

export interface RoomChaosOptions {
  // members of every public room (each also in one direct message: they pair up)
  members: number;
  publicRooms: number;
  churners: number;
  // messages each member sends to each shared room before the run (and its faults) starts, so the
  // rooms hold more than the newest page a device reads after a reconnect (30: 120 a room)
  prefill?: number;
  log: (line: string) => void;
  // fault counters shared with the AI half: room cuts are counted in `cut`
  faults: Record<string, number>;
}

export interface RoomChaosCounts extends ModerationCounts, MuteCounts {
  rooms: number;
  stored: number;
  acked: number;
  lost: number;
  duplicated: number;
  seqGaps: number;
  ackMismatches: number;
  // stored messages a member does not hold after resuming with last_seq
  undelivered: number;
  // a message a socket got twice, or a replay of one at or below the join's last_seq
  deliveredTwice: number;
  // a message a socket got before a lower one it had not had yet
  outOfOrder: number;
  joins: number;
  leaves: number;
  // joins of the listening sockets (first ones and resumes), and the messages they got in the
  // joins' replays and live
  resumes: number;
  replayed: number;
  live: number;
  // edits and reaction operations (adds and removals) acked, and what the store holds after them
  // (test/chaos/room-changes.ts): texts that are not the last acked edit (nor a later unacked one),
  // edited marks that disagree with the text, reactions there or gone against the acked operations
  // or never sent, users listed twice under one emoji
  edits: number;
  reactions: number;
  contentWrong: number;
  editedWrong: number;
  reactionsWrong: number;
  reactionsDoubled: number;
  // deletes acked; messages read as deleted that nobody deleted; acked deletes that do not read as
  // deleted, or read deleted with text, an edit mark or reactions (room-changes.ts)
  deletes: number;
  deletedWrong: number;
  deleteLost: number;
  // what the members' listening devices show, the frames applied as the client does
  // (client/chat/src/rooms/change-frames.ts: an `edit` of a deleted message, or a `delete` of one not
  // held, is dropped): a message shown with text again after the device got its `delete`
  deletedResurrected: number;
  // `edit` frames a device got after it held the message as deleted (dropped by the client)
  editsAfterDelete: number;
  // acked deletes a member's device still shows with text after its last resume (each resume reads
  // the room's newest page over REST and the pages below it down to the oldest message held, as the
  // client does, and merges them: a delete made while the device was away is seen there; a resume
  // itself replays only messages after its last_seq)
  deletesMissed: number;
  // what each member's device holds in its message store (the client's own RoomStore, frames and
  // REST pages applied as the client applies them, client/chat/src/rooms/room-store.ts) against
  // the server's final state, per message it holds: a text or edited mark that is not the
  // server's (`editsMissed`), reactions that are not the server's (`reactionsMissed`), a deleted
  // mark that is not the server's (`deletedMismatch`); `compared` messages in all
  editsMissed: number;
  reactionsMissed: number;
  deletedMismatch: number;
  compared: number;
  // after a resume: the reads of the room's change log (changed_after, docs/protocol.md "Change log"),
  // and the page reads of the fallback (the newest page and the pages below it, held-refresh.ts:
  // a device without a change mark, or one the log could not answer), and the ones that failed (an
  // instance away); `changeFallbacks`: resumes that read the pages
  changeReads: number;
  changeFallbacks: number;
  // change frames (edit, delete, react) a device got before their message, which it did not hold
  // and stood below (the server holds a change behind its message: docs/protocol.md, "Guarantees";
  // the client drops such a change and does not count it for its change mark)
  changesBeforeMessage: number;
  pageReads: number;
  // attempts to read a room's newest state over REST (its change log, or its pages when the log
  // cannot answer) that failed and were tried again: an instance killed or the store away meanwhile
  newestReadsFailed: number;
  // error frames the senders and churners got, by code (the store or Redis away, rate limits), and
  // sockets that closed (`closed`, not counting the test's own cuts) or stayed silent for 10 s
  // (`timeout:<what was awaited>`) before the answer: each of those was tried again
  errors: Record<string, number>;
}

interface Ack {
  message_id: string;
  seq: number;
}

interface Frame {
  type: string;
  room_id?: string;
  client_id?: string;
  message_id?: string;
  seq?: number;
  user_id?: string;
  content?: string;
  metadata?: { deleted?: boolean; changed?: number };
  error?: { code: string; retry_after?: number; message?: string };
}

interface StoredRoomMessage extends StoredChanges {
  client_id?: string;
  metadata?: StoredChanges['metadata'] & StoredSystemMessage['metadata'];
}

// what one member's devices hold of one room
interface View {
  seen: Set<number>;
  // every seq up to here is held: a resume's last_seq
  contiguous: number;
}

// a message as a member's device shows it
interface Shown {
  text: boolean;
  deleted: boolean;
  // the device got its `delete`
  toldDeleted: boolean;
}

interface Member {
  user: string;
  // the rooms' owner (deletes anyone's messages in the shared rooms)
  owner: boolean;
  shown: Map<string, Shown>;
  // what the listening device holds, in the client's store
  store: RoomStore;
  token: string;
  // where it sends: room ids, or `@<user>` for the direct message made by first use
  targets: string[];
  // rooms its listening socket joins: the join's room_id and the room's real id
  watches: Array<{ join: string; id: string }>;
  views: Map<string, View>;
  // its acked messages, which it edits
  own: Array<{ roomId: string; messageId: string }>;
  next: number;
  socket?: WebSocket;
  // rooms whose join answered on some socket: a later join is a resume, followed by a page read
  resumed: Set<string>;
  // messages a change of which came before the message (changesBeforeMessage)
  early: Set<string>;
}

type Operation = (
  | { kind: 'chat'; target: string; clientId: string; content: string }
  | { kind: 'delete'; roomId: string; messageId: string; clientId: string; index: number }
  | { kind: 'edit'; roomId: string; messageId: string; clientId: string; content: string; index: number }
  | {
      kind: 'react';
      roomId: string;
      messageId: string;
      clientId: string;
      emoji: string;
      add: boolean;
      index: number;
    }
) & { firstSentAt?: number };

interface Churner {
  user: string;
  token: string;
  next: number;
}

const CUT_SHARE = 0.3;
// of a member's operations: edits of its own messages, reactions; the rest are new messages
const EDIT_SHARE = 0.2;
const REACT_SHARE = 0.2;
const DELETE_SHARE = 0.08;
// edits and reactions go to the newest few messages, so some see several operations
const RECENT = 5;
const EMOJIS = ['👍', '🎉'];
// a share of edits, reactions and deletes goes to any earlier message instead: older ones than the
// newest page a device reads after a reconnect, changed while the device was away
const OLDER_SHARE = 0.25;

// the newest few of `list`, or now and then any of it
function recentOrAny<T>(list: T[]): T[] {
  return Math.random() < OLDER_SHARE ? list : list.slice(-RECENT);
}

export class RoomChaos {
  private readonly members: Member[] = [];
  private readonly churners: Churner[] = [];
  private readonly roomIds: string[] = [];
  private publicIds: string[] = [];
  // room → sender|client_id → the first ack
  private readonly acks = new Map<string, Map<string, Ack>>();
  // room → its acked messages (for reactions)
  private readonly known = new Map<string, string[]>();
  private readonly ledger = new ChangeLedger();
  // messages a delete was sent for: no new edit or reaction goes to them
  private readonly deleting = new Set<string>();
  private sharedIds: string[] = [];
  private moderation?: ModerationChaos;
  private mutes?: MuteChaos;
  private readonly counts: RoomChaosCounts = {
    rooms: 0,
    stored: 0,
    acked: 0,
    lost: 0,
    duplicated: 0,
    seqGaps: 0,
    ackMismatches: 0,
    undelivered: 0,
    deliveredTwice: 0,
    outOfOrder: 0,
    joins: 0,
    leaves: 0,
    resumes: 0,
    replayed: 0,
    live: 0,
    edits: 0,
    reactions: 0,
    contentWrong: 0,
    editedWrong: 0,
    reactionsWrong: 0,
    reactionsDoubled: 0,
    deletes: 0,
    deletedWrong: 0,
    deleteLost: 0,
    deletedResurrected: 0,
    editsAfterDelete: 0,
    deletesMissed: 0,
    editsMissed: 0,
    reactionsMissed: 0,
    deletedMismatch: 0,
    compared: 0,
    changeReads: 0,
    changeFallbacks: 0,
    changesBeforeMessage: 0,
    pageReads: 0,
    newestReadsFailed: 0,
    ...noRemovals(),
    ...noMutes(),
    errors: {},
  };
  private listening = true;
  private readonly admin = adminToken(uniqueUser('chaos-admin'));

  constructor(private readonly options: RoomChaosOptions) {}

  // Rooms and memberships, before any fault: public rooms by the first member, the others join; the
  // first two members' direct message is opened over REST, the next two's by their first messages.
  async setup(port: number): Promise<void> {
    const users = Array.from({ length: Math.max(2, this.options.members) }, () => uniqueUser('room'));
    const tokens = users.map((user) => userToken(user, { expiresInSeconds: 7200 }));
    for (let index = 0; index < this.options.publicRooms; index++) {
      const room = await rest<{ id: string }>(port, tokens[0], 'POST', '/rooms', {
        name: `chaos ${index}`,
        kind: 'public',
      });
      this.publicIds.push(room.id);
    }
    // the private room, where victims are kicked (ModerationChaos); the members are invited
    const privateRoom = await rest<{ id: string }>(port, tokens[0], 'POST', '/rooms', {
      name: 'chaos private',
      kind: 'private',
      invite: users.slice(1),
    });
    for (const token of tokens.slice(1))
      for (const roomId of [...this.publicIds, privateRoom.id])
        await rest(port, token, 'POST', `/rooms/${roomId}/join`);
    const shared = [...this.publicIds, privateRoom.id];
    this.sharedIds = shared;
    this.roomIds.push(...shared);
    this.mutes = new MuteChaos({
      moderatorToken: tokens[0],
      rooms: shared,
      users: users.slice(1),
      note: (what) => this.note(what),
      log: this.options.log,
    });
    this.moderation = new ModerationChaos({
      moderatorToken: tokens[0],
      privateRoom: privateRoom.id,
      publicRooms: this.publicIds,
      note: (what) => this.note(what),
      log: this.options.log,
    });
    users.forEach((user, index) => {
      const partner = index % 2 === 0 ? users[index + 1] : users[index - 1];
      const member: Member = {
        user,
        owner: index === 0,
        shown: new Map(),
        store: new RoomStore(),
        token: tokens[index],
        targets: [...shared],
        watches: shared.map((id) => ({ join: id, id })),
        views: new Map(),
        own: [],
        next: 0,
        resumed: new Set(),
        early: new Set(),
      };
      if (partner !== undefined) {
        const dmId = dmRoomId(user, partner);
        // pairs after the first make their room by racing first messages (and joins) to `@<user>`
        const byFirstUse = index >= 2;
        member.targets.push(byFirstUse ? `@${partner}` : dmId);
        member.watches.push({ join: byFirstUse ? `@${partner}` : dmId, id: dmId });
        if (!this.roomIds.includes(dmId)) this.roomIds.push(dmId);
      }
      this.members.push(member);
    });
    if (users.length >= 2) await rest(port, tokens[0], 'POST', '/dms', { user_id: users[1] });
    const prefill = this.options.prefill ?? 30;
    await Promise.all(this.members.map((member) => this.prefill(member, port, prefill)));
    for (let index = 0; index < this.options.churners; index++) {
      const user = uniqueUser('churn');
      this.churners.push({ user, token: userToken(user, { expiresInSeconds: 7200 }), next: 0 });
    }
  }

  // Before the run: `perRoom` messages of the member to each shared room, on one socket, each sent
  // again until acked (rate limits), recorded like the run's (edits, reactions and deletes of the
  // run reach them: older than the newest page of a room).
  private async prefill(member: Member, port: number, perRoom: number): Promise<void> {
    let socket: WebSocket | undefined;
    let fresh = true;
    for (const roomId of this.sharedIds)
      for (let index = 0; index < perRoom; index++) {
        const clientId = `${member.user}-${member.next++}`;
        const operation: Operation = { kind: 'chat', target: roomId, clientId, content: `chaos ${clientId}` };
        for (;;) {
          if (!socket || socket.readyState !== WebSocket.OPEN) {
            socket = await openLine(roomUrl(port, member.token));
            fresh = true;
            if (!socket) {
              await sleep(50);
              continue;
            }
          }
          const outcome = await this.exchange(socket, (send) => send(frameOf(operation)), clientId, {
            what: 'chat',
            fresh,
            acked: (frame) => this.noteDone(member, operation, frame),
          });
          fresh = false;
          if (outcome.acked) break;
          await sleep(outcome.retryAfterMs ?? 50);
        }
      }
    socket?.terminate();
  }

  // Everyone sends, listens and churns until the deadline; the listening sockets go on until settle().
  async run(ports: number[], deadline: number): Promise<void> {
    for (const member of this.members) void this.listen(member, ports);
    await Promise.all([
      ...this.members.map((member) => this.send(member, ports, deadline)),
      ...this.churners.map((churner) => this.churn(churner, ports, deadline)),
      this.moderation?.run(ports, deadline),
      this.mutes?.run(ports, deadline),
    ]);
  }

  // One member's sending device: a socket per operation (a message, an edit of one of its own, a
  // reaction added or taken back), a new one or the unacked one again.
  private async send(member: Member, ports: number[], deadline: number): Promise<void> {
    let unacked: Operation | undefined;
    while (Date.now() < deadline) {
      const socket = await openLine(randomUrl(ports, member.token));
      if (!socket) {
        await sleep(50);
        continue;
      }
      const operation = unacked ?? this.nextOperation(member);
      unacked = operation;
      const outcome = await this.exchange(socket, (send) => send(frameOf(operation)), operation.clientId, {
        what: operation.kind,
        cut: true,
        acked: (frame) => this.noteDone(member, operation, frame),
      });
      socket.terminate();
      if (outcome.sentAt !== undefined) {
        operation.firstSentAt ??= outcome.sentAt;
        this.noteCopy(member, operation, outcome);
      }
      if (outcome.acked) unacked = undefined;
      // a message deleted meanwhile (by its sender or the owner): nothing more to do to it
      else if (
        outcome.code === 'NOT_FOUND' &&
        'messageId' in operation &&
        this.deleting.has(operation.messageId)
      )
        unacked = undefined;
      // muted: sent again (the same client_id) until the unmute
      else if (outcome.code === 'MUTED') await sleep(Math.min(outcome.retryAfterMs ?? 300, 300));
      else await sleep(outcome.retryAfterMs ?? 20);
    }
  }

  // A copy of a message or an edit in a shared room (where mutes are), for the mutes' check.
  private noteCopy(
    member: Member,
    operation: Operation,
    outcome: {
      acked: boolean;
      code?: string;
      retryAfterMs?: number;
      sentAt?: number;
      answeredAt: number;
      seq?: number;
    },
  ): void {
    if (operation.kind !== 'chat' && operation.kind !== 'edit') return;
    const roomId = operation.kind === 'chat' ? operation.target : operation.roomId;
    if (!this.sharedIds.includes(roomId) || outcome.sentAt === undefined) return;
    if (!outcome.acked && outcome.code === undefined) return;
    this.mutes?.answered({
      user: member.user,
      roomId,
      kind: operation.kind,
      clientId: operation.clientId,
      sentAt: outcome.sentAt,
      answeredAt: outcome.answeredAt,
      firstSentAt: operation.firstSentAt ?? outcome.sentAt,
      answer: outcome.acked
        ? { acked: true, seq: outcome.seq }
        : { acked: false, code: outcome.code!, retryAfter: outcome.retryAfterMs },
    });
  }

  // A new message most of the time; else an edit of one of the member's acked messages (its newest
  // few, so some are edited several times) or a reaction on a recent message of one of its rooms
  // (mostly the opposite of its last operation there, sometimes the same again).
  private nextOperation(member: Member): Operation {
    const clientId = `${member.user}-${member.next++}`;
    const roll = Math.random();
    member.own = member.own.filter((message) => !this.deleting.has(message.messageId));
    if (roll >= 1 - DELETE_SHARE) {
      // the owner: any recent message of a shared room (others' mostly); a member: one of its own
      const choices = member.owner
        ? this.sharedIds.flatMap((roomId) =>
            recentOrAny(this.known.get(roomId) ?? []).map((messageId) => ({ roomId, messageId })),
          )
        : recentOrAny(member.own);
      const live = choices.filter((choice) => !this.deleting.has(choice.messageId));
      if (live.length > 0) {
        const { roomId, messageId } = pick(live);
        this.deleting.add(messageId);
        return {
          kind: 'delete',
          roomId,
          messageId,
          clientId,
          index: this.ledger.deleteSent(messageId, member.user),
        };
      }
    }
    if (roll < EDIT_SHARE && member.own.length > 0) {
      const { roomId, messageId } = pick(recentOrAny(member.own));
      const content = `edit ${clientId}`;
      return {
        kind: 'edit',
        roomId,
        messageId,
        clientId,
        content,
        index: this.ledger.editSent(messageId, content),
      };
    }
    const older = Math.random() < OLDER_SHARE;
    const reactable = (id: string) =>
      (this.known.get(id) ?? [])
        .slice(older ? 0 : -RECENT)
        .filter((messageId) => !this.deleting.has(messageId));
    const rooms = member.watches.map((watch) => watch.id).filter((id) => reactable(id).length > 0);
    if (roll < EDIT_SHARE + REACT_SHARE && rooms.length > 0) {
      const roomId = pick(rooms);
      const messageId = pick(reactable(roomId));
      const emoji = pick(EMOJIS);
      const reacted = this.ledger.reacted(messageId, member.user, emoji);
      const add = Math.random() < 0.75 ? !reacted : reacted;
      const index = this.ledger.reactSent(messageId, member.user, emoji, add);
      return { kind: 'react', roomId, messageId, clientId, emoji, add, index };
    }
    // a muted member tries its muted room half the time (test/chaos/room-mutes.ts)
    const muted = this.mutes?.mutedRoom(member.user);
    const target = muted !== undefined && Math.random() < 0.5 ? muted : pick(member.targets);
    return { kind: 'chat', target, clientId, content: `chaos ${clientId}` };
  }

  // The operation was acked: a message is recorded (its ack checked, its text noted for the edits'
  // check, its id offered to edits and reactions), an edit or a reaction noted as acked.
  private noteDone(member: Member, operation: Operation, frame: Frame): void {
    switch (operation.kind) {
      case 'chat': {
        const first = this.noteAck(member.user, frame, operation.content);
        if (first && frame.room_id && frame.message_id) {
          member.own.push({ roomId: frame.room_id, messageId: frame.message_id });
          let known = this.known.get(frame.room_id);
          if (!known) this.known.set(frame.room_id, (known = []));
          known.push(frame.message_id);
        }
        return;
      }
      case 'edit':
        return this.ledger.editAcked(operation.messageId, operation.index);
      case 'delete':
        return this.ledger.deleteAcked(operation.messageId, operation.index);
      case 'react':
        return this.ledger.reactAcked(operation.messageId, member.user, operation.emoji, operation.index);
    }
  }

  // A churner: join a public room, say one thing (resent until acked), leave; again.
  private async churn(churner: Churner, ports: number[], deadline: number): Promise<void> {
    let unacked: { roomId: string; clientId: string } | undefined;
    while (Date.now() < deadline) {
      const socket = await openLine(randomUrl(ports, churner.token));
      if (!socket) {
        await sleep(50);
        continue;
      }
      const message = unacked ?? {
        roomId: pick(this.publicIds),
        clientId: `${churner.user}-${churner.next++}`,
      };
      unacked = message;
      const content = `churn ${message.clientId}`;
      const joinId = `join-${message.clientId}`;
      const joined = await this.exchange(
        socket,
        (send) => send({ type: 'join', room_id: message.roomId, client_id: joinId }),
        joinId,
        { what: 'control' },
      );
      if (joined.acked) {
        this.counts.joins++;
        const said = await this.exchange(
          socket,
          (send) => send({ type: 'chat', room_id: message.roomId, client_id: message.clientId, content }),
          message.clientId,
          {
            what: 'chat',
            fresh: false,
            cut: true,
            acked: (frame) => this.noteAck(churner.user, frame, content),
          },
        );
        if (said.acked) {
          unacked = undefined;
          const leaveId = `leave-${message.clientId}`;
          const left = await this.exchange(
            socket,
            (send) => send({ type: 'leave', room_id: message.roomId, client_id: leaveId }),
            leaveId,
            { what: 'control', fresh: false },
          );
          if (left.acked) this.counts.leaves++;
        }
      }
      socket.terminate();
      await sleep(unacked ? 20 : 50);
    }
  }

  // Sends one frame (after connection_status when `fresh`) and waits for its ack (or the `join`
  // frame), an error, the socket's end or 10 s. With `cut`, the socket is cut 0–40 ms after the send
  // 30 % of the time. `acked` hears of the ack.
  private exchange(
    socket: WebSocket,
    write: (send: (frame: object) => void) => void,
    clientId: string,
    options: { what: string; fresh?: boolean; cut?: boolean; acked?: (frame: Frame) => void },
  ): Promise<{
    acked: boolean;
    retryAfterMs?: number;
    code?: string;
    sentAt?: number;
    answeredAt: number;
    seq?: number;
  }> {
    return new Promise((resolve) => {
      let sent = false;
      let sentAt: number | undefined;
      let cutting = false;
      const finish = (result: { acked: boolean; retryAfterMs?: number; code?: string; seq?: number }) => {
        clearTimeout(timer);
        onFrames(socket, undefined);
        socket.removeListener('close', onClose);
        resolve({ ...result, sentAt, answeredAt: Date.now() });
      };
      const go = () => {
        sent = true;
        sentAt = Date.now();
        write((frame) => {
          socket.send(JSON.stringify(frame));
          if (options.cut && Math.random() < CUT_SHARE) {
            this.options.faults.cut++;
            cutting = true;
            setTimeout(() => socket.terminate(), Math.random() * 40);
          }
        });
      };
      const onMessage = (data: string) => {
        const frame = JSON.parse(data) as Frame;
        if (frame.type === 'connection_status' && !sent) return go();
        if (!sent || frame.client_id !== clientId) return;
        if (frame.type === 'error') {
          const code = frame.error?.code ?? 'unknown';
          this.note(code);
          // Which operation drew it and the server's words: a code alone does not say where it came
          // from (INTERNAL has several origins: a lock not had in time, a store write that failed).
          if (code === 'INTERNAL' || code === 'NOT_A_MEMBER')
            this.note(`${code} on ${options.what}: ${frame.error?.message ?? ''}`);
          return finish({ acked: false, retryAfterMs: frame.error?.retry_after, code });
        }
        if (frame.type === 'join') return finish({ acked: true });
        if (frame.type !== 'ack') return;
        options.acked?.(frame);
        finish({ acked: true, seq: frame.seq });
      };
      const onClose = () => {
        if (!cutting) this.note('closed');
        finish({ acked: false });
      };
      const timer = setTimeout(() => {
        this.note(`timeout:${sent ? options.what : 'connection_status'}`);
        finish({ acked: false });
      }, 10_000);
      onFrames(socket, onMessage);
      socket.once('close', onClose);
      if (options.fresh !== false) return;
      go();
    });
  }

  private note(what: string): void {
    this.counts.errors[what] = (this.counts.errors[what] ?? 0) + 1;
  }

  // Checks a message's ack against the first one of its client_id; true for the first (whose text
  // the ledger then holds).
  private noteAck(user: string, frame: Frame, content: string): boolean {
    if (!frame.room_id || !frame.message_id || frame.seq === undefined || !frame.client_id) {
      this.counts.ackMismatches++;
      console.log(`chaos rooms: ack without room, message or seq: ${JSON.stringify(frame)}`);
      return false;
    }
    let acks = this.acks.get(frame.room_id);
    if (!acks) this.acks.set(frame.room_id, (acks = new Map()));
    const key = `${user}|${frame.client_id}`;
    const first = acks.get(key);
    if (!first) {
      acks.set(key, { message_id: frame.message_id, seq: frame.seq });
      this.ledger.stored(frame.message_id, content);
      return true;
    }
    if (first.message_id !== frame.message_id || first.seq !== frame.seq) {
      this.counts.ackMismatches++;
      console.log(`chaos rooms: ${key} acked as ${JSON.stringify(first)} and then as seq ${frame.seq}`);
    }
    return false;
  }

  // One member's listening device: joined to every room of theirs, resuming with last_seq after
  // every drop, cut every 4–10 s.
  private async listen(member: Member, ports: number[]): Promise<void> {
    while (this.listening) {
      const socket = await openLine(randomUrl(ports, member.token));
      if (!socket) {
        await sleep(100);
        continue;
      }
      member.socket = socket;
      const cut = setTimeout(() => socket.terminate(), 4000 + Math.random() * 6000);
      await this.follow(member, socket, ports, () => undefined);
      clearTimeout(cut);
      member.socket = undefined;
    }
  }

  // Joins the member's rooms on the socket with their last_seq (a join refused, say while the store
  // restarts, is tried again) and checks every message it brings until the socket ends. `joined` is
  // called once every room answered its join.
  private follow(member: Member, socket: WebSocket, ports: number[], joined: () => void): Promise<void> {
    return new Promise((resolve) => {
      // per room on this socket: the join's last_seq, the highest seq got since and the seqs got
      // and whether its `join` came (what comes before it is the replay, after it live)
      const positions = new Map<string, { lastSeq: number; top: number; got: Set<number>; live: boolean }>();
      const pending = new Set<string>();
      const join = (watch: { join: string; id: string }) => {
        if (socket.readyState !== WebSocket.OPEN) return;
        const lastSeq = this.viewOf(member, watch.id).contiguous;
        positions.set(watch.id, { lastSeq, top: lastSeq, got: new Set(), live: false });
        pending.add(watch.id);
        socket.send(
          JSON.stringify({
            type: 'join',
            room_id: watch.join,
            last_seq: lastSeq,
            client_id: `resume-${watch.id}`,
          }),
        );
      };
      onFrames(socket, (data) => {
        const frame = JSON.parse(data) as Frame;
        if (frame.type === 'connection_status') {
          for (const watch of member.watches) join(watch);
          return;
        }
        const watch = member.watches.find((candidate) => `resume-${candidate.id}` === frame.client_id);
        if (watch && frame.type === 'error') {
          setTimeout(() => join(watch), 300);
          return;
        }
        if (watch && frame.type === 'join') {
          this.counts.resumes++;
          const position = positions.get(watch.id);
          if (position) position.live = true;
          // a resume: the room's newest page is read and merged, as the client does after a
          // reconnect (client/chat/src/rooms/rooms-client.ts, refreshNewest); joined() waits for it
          const resume = member.resumed.has(watch.id);
          member.resumed.add(watch.id);
          // a first join: the device's change log starts at the room's head (rooms-client.ts, onJoined)
          if (!resume && frame.room_id && typeof frame.metadata?.changed === 'number')
            member.store.thread(frame.room_id).changes.startsAt(frame.metadata.changed);
          if (!resume) {
            pending.delete(watch.id);
            if (pending.size === 0) joined();
            return;
          }
          void this.readNewest(member, watch.id, ports, socket).then(() => {
            pending.delete(watch.id);
            if (pending.size === 0) joined();
          });
          return;
        }
        this.show(member, frame);
        this.hold(member, frame);
        if (frame.type !== 'chat' || frame.seq === undefined || !frame.room_id) return;
        const position = positions.get(frame.room_id);
        if (!position) return;
        const seq = frame.seq;
        if (seq <= position.lastSeq || position.got.has(seq)) {
          this.counts.deliveredTwice++;
          console.log(
            `chaos rooms: ${member.user} got seq ${seq} of ${frame.room_id} twice (last_seq ${position.lastSeq})`,
          );
        } else if (seq > position.top + 1) {
          this.counts.outOfOrder++;
          console.log(`chaos rooms: ${member.user} got seq ${seq} of ${frame.room_id} after ${position.top}`);
        }
        if (position.live) this.counts.live++;
        else this.counts.replayed++;
        position.got.add(seq);
        position.top = Math.max(position.top, seq);
        const view = this.viewOf(member, frame.room_id);
        view.seen.add(seq);
        while (view.seen.has(view.contiguous + 1)) view.contiguous++;
      });
      socket.once('close', () => resolve());
    });
  }

  // A frame applied to what the member's device shows, as the client applies it
  // (client/chat/src/rooms/room-store.ts): a stored message replaces what was shown of it; an `edit`
  // changes a message shown and not deleted; a `delete` marks one shown (one not held is dropped).
  private show(member: Member, frame: Frame): void {
    if (!frame.message_id || !['chat', 'edit', 'delete'].includes(frame.type)) return;
    const shown = member.shown.get(frame.message_id);
    if (frame.type === 'chat') {
      const deleted = frame.metadata?.deleted === true;
      const text = !deleted && frame.content !== undefined;
      if (shown?.toldDeleted && text) {
        this.counts.deletedResurrected++;
        console.log(
          `chaos rooms: ${member.user} got seq ${frame.seq} of ${frame.room_id} with its text after its delete`,
        );
      }
      member.shown.set(frame.message_id, { text, deleted, toldDeleted: shown?.toldDeleted ?? false });
    } else if (frame.type === 'edit') {
      if (shown?.deleted || shown?.toldDeleted) this.counts.editsAfterDelete++;
      else if (shown) shown.text = true;
    } else if (shown) Object.assign(shown, { text: false, deleted: true, toldDeleted: true });
    // a delete of a message the device does not hold yet: the client drops it; the test remembers it
    else member.shown.set(frame.message_id, { text: false, deleted: false, toldDeleted: true });
  }

  // The room's changes after the device's change mark (GET /rooms/:id/messages?changed_after=,
  // client/chat/src/rooms/change-read.ts, the client's own reads), or as the fallback (no mark, or
  // the log could not answer) the room's newest page (GET /rooms/:id/messages?limit=100), then the
  // pages below it down to the oldest message the device holds (?before=&limit=), merged as the
  // client merges them after a reconnect (held-refresh.ts, the client's own walk): into the device's
  // store, and into what it shows of deletes: a message read deleted is shown deleted; one read with
  // its text stays deleted when the device got its delete meanwhile (the page was read before it:
  // the client applies again what came while the read was on its way). Tried again from the newest
  // page on another instance while the socket is up; a room the member was removed from answers 403
  // and is passed over.
  private async readNewest(
    member: Member,
    roomId: string,
    ports: number[],
    socket: WebSocket,
  ): Promise<void> {
    for (;;) {
      const floor = oldestHeld(member.store.messages(roomId).map((message) => message.seq));
      member.store.startRead(roomId);
      let merged = false;
      try {
        const log = await readChanges(
          member.store,
          roomId,
          async (after, limit) => {
            const answer = await restCall<ChangesPage>(
              pick(ports),
              member.token,
              'GET',
              `/rooms/${encodeURIComponent(roomId)}/messages?changed_after=${after}&limit=${limit}`,
            );
            if (answer.status === 400) return 'refused';
            if (answer.status !== 200) throw new Error(`status ${answer.status}`);
            this.counts.changeReads++;
            this.showPage(member, answer.body.items as StoredRoomMessage[]);
            return answer.body;
          },
          () => socket.readyState === WebSocket.OPEN,
        );
        merged = log.merged;
        if (!log.fallback) return;
        this.counts.changeFallbacks++;
        await refreshHeld(
          floor,
          async (request) => {
            const query =
              request.before === undefined
                ? `?limit=${request.limit}`
                : `?before=${request.before}&limit=${request.limit}`;
            const answer = await restCall<{ items: StoredRoomMessage[] }>(
              pick(ports),
              member.token,
              'GET',
              `/rooms/${encodeURIComponent(roomId)}/messages${query}`,
            );
            if (answer.status !== 200) throw new Error(`status ${answer.status}`);
            this.counts.pageReads++;
            return answer.body.items;
          },
          (items) => {
            merged = true;
            this.showPage(member, items as StoredRoomMessage[]);
            return this.merge(member, roomId, items);
          },
          () => true,
        );
        if (log.head !== undefined) member.store.thread(roomId).changes.restart(log.head);
        return;
      } catch (error) {
        this.counts.newestReadsFailed++;
        if (String(error).includes('status 403') || socket.readyState !== WebSocket.OPEN) return;
        await sleep(300);
      } finally {
        member.store.endRead(roomId, merged);
      }
    }
  }

  // A page read over REST applied to what the device shows of deletes (see readNewest).
  private showPage(member: Member, items: StoredRoomMessage[]): void {
    for (const item of items) {
      const shown = member.shown.get(item.message_id);
      if (!shown || shown.deleted || shown.toldDeleted) continue;
      const deleted = item.metadata?.deleted === true;
      Object.assign(shown, { deleted, text: !deleted && item.content !== undefined });
    }
  }

  // A frame applied to the device's store as the client applies it (rooms-client.ts, onFrame): a
  // stored message through RoomStore.applyMessage, a change through applyChangeFrame.
  private hold(member: Member, frame: Frame): void {
    if (['edit', 'delete', 'react'].includes(frame.type) && frame.room_id && frame.message_id) {
      const thread = member.store.thread(frame.room_id);
      if (
        !thread.byKey.has(frame.message_id) &&
        (frame.seq === undefined || frame.seq > thread.resume.point)
      ) {
        this.counts.changesBeforeMessage++;
        member.early.add(frame.message_id);
      }
    }
    if (frame.type === 'chat') {
      const message = asMessageFrame(frame);
      if (message) member.store.applyMessage(message);
    } else applyChangeFrame(member.store, frame as unknown as Record<string, unknown>);
  }

  // A REST page merged into the device's store as the client merges it (rooms-client.ts, mergePage):
  // each message replaces what the store held of it; the changes applied while the read was on its
  // way are applied again over it (startRead / endRead, which the caller brackets the read with).
  private merge(member: Member, roomId: string, items: readonly unknown[]): number[] {
    const seqs: number[] = [];
    for (const item of items) {
      const frame = asMessageFrame(item);
      if (!frame || frame.room_id !== roomId) continue;
      member.store.applyMessage(frame);
      seqs.push(frame.seq);
    }
    return seqs;
  }

  // Every message a member's device holds against the server's final state: its text and edited
  // mark, its deleted mark, its reactions.
  private compareHeld(histories: Map<string, StoredRoomMessage[]>): void {
    const counts = this.counts;
    const lines: string[] = [];
    for (const member of this.members)
      for (const watch of member.watches) {
        const stored = new Map(
          (histories.get(watch.id) ?? []).map((message) => [message.message_id, message]),
        );
        for (const held of member.store.messages(watch.id)) {
          const server = held.messageId ? stored.get(held.messageId) : undefined;
          if (!server) continue;
          counts.compared++;
          const deleted = server.metadata?.deleted === true;
          const where = `${member.user} holds seq ${server.seq} of ${watch.id}`;
          if (held.deleted !== deleted) {
            counts.deletedMismatch++;
            lines.push(
              `${where} ${held.deleted ? 'deleted' : 'not deleted'}, the server ${deleted ? 'deleted' : 'not'}`,
            );
          }
          if (held.deleted || deleted) continue;
          if (held.content !== (server.content ?? '') || !held.editedAt !== !server.metadata?.edited_at) {
            counts.editsMissed++;
            lines.push(
              `${where} with text ${JSON.stringify(held.content)}, the server ${JSON.stringify(server.content)}`,
            );
          }
          if (reactionsKey(held.reactions) !== reactionsKey(server.metadata?.reactions ?? {})) {
            counts.reactionsMissed++;
            lines.push(
              `${where} with reactions ${reactionsKey(held.reactions)}, the server ${reactionsKey(server.metadata?.reactions ?? {})}${member.early.has(server.message_id) ? ' (a change of it came before it)' : ''}`,
            );
          }
        }
      }
    for (const line of lines.slice(0, 20)) console.log(`chaos rooms: ${line}`);
  }

  private viewOf(member: Member, roomId: string): View {
    let view = member.views.get(roomId);
    if (!view) member.views.set(roomId, (view = { seen: new Set(), contiguous: 0 }));
    return view;
  }

  // Reads every room's history (admins read any room; paging the cursor), then has every member
  // resume once more with last_seq and counts what they lack.
  async settle(port: number, waitMs: number): Promise<RoomChaosCounts> {
    this.stop();
    const deadline = Date.now() + waitMs;
    // a cut chat the server was still storing lands before we read
    await sleep(1000);
    const histories = new Map<string, StoredRoomMessage[]>();
    for (const roomId of this.roomIds) {
      for (;;) {
        try {
          histories.set(roomId, await this.history(port, roomId));
          break;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`room ${roomId} could not be read: ${String(error)}`);
          await sleep(500);
        }
      }
    }
    await Promise.all(this.members.map((member) => this.resumeOnce(member, port, deadline)));
    const counts = this.counts;
    counts.rooms = histories.size;
    for (const [roomId, messages] of histories) {
      counts.stored += messages.length;
      messages.forEach((message, index) => {
        if (message.seq !== index + 1) counts.seqGaps++;
      });
      const stored = new Map<string, StoredRoomMessage[]>();
      for (const message of messages) {
        if (message.client_id === undefined) continue;
        const key = `${message.user_id}|${message.client_id}`;
        stored.set(key, [...(stored.get(key) ?? []), message]);
      }
      for (const copies of stored.values()) if (copies.length > 1) counts.duplicated += copies.length - 1;
      for (const [key, ack] of this.acks.get(roomId) ?? []) {
        counts.acked++;
        const copy = stored.get(key)?.[0];
        if (!copy) {
          counts.lost++;
          console.log(`chaos rooms: lost ${key} (seq ${ack.seq}) in ${roomId}`);
        } else if (copy.message_id !== ack.message_id || copy.seq !== ack.seq) {
          counts.ackMismatches++;
          console.log(`chaos rooms: ${key} acked as ${JSON.stringify(ack)}, stored at seq ${copy.seq}`);
        }
      }
      for (const member of this.members) {
        if (!member.watches.some((watch) => watch.id === roomId)) continue;
        const view = this.viewOf(member, roomId);
        const missing = messages
          .filter((message) => !view.seen.has(message.seq))
          .map((message) => message.seq);
        counts.undelivered += missing.length;
        if (missing.length > 0)
          console.log(
            `chaos rooms: ${member.user} lacks seqs ${missing.slice(0, 20).join(',')} of ${roomId}`,
          );
      }
    }
    const problems: string[] = [];
    const changes = this.ledger.check([...histories.values()].flat(), (line) => problems.push(line));
    for (const line of problems.slice(0, 20)) console.log(`chaos rooms: ${line}`);
    Object.assign(counts, changes, this.ledger.acked(), this.moderation?.check(histories));
    const muteLines: string[] = [];
    Object.assign(
      counts,
      this.mutes?.check(histories as Map<string, StoredMuteMessage[]>, (line) => muteLines.push(line)),
    );
    for (const line of muteLines.slice(0, 20)) console.log(`chaos rooms: ${line}`);
    for (const member of this.members)
      for (const [messageId, shown] of member.shown)
        if (shown.text && !shown.deleted && this.ledger.isDeleted(messageId)) counts.deletesMissed++;
    this.compareHeld(histories);
    for (const roomId of this.acks.keys())
      if (!histories.has(roomId)) {
        counts.lost += this.acks.get(roomId)!.size;
        console.log(`chaos rooms: acks in a room never read: ${roomId}`);
      }
    return counts;
  }

  // the listening sockets end (settle, or a run that failed)
  stop(): void {
    this.listening = false;
    for (const member of this.members) member.socket?.terminate();
    this.moderation?.stop();
    this.mutes?.stop();
  }

  private async resumeOnce(member: Member, port: number, deadline: number): Promise<void> {
    for (;;) {
      const socket = await openLine(`ws://127.0.0.1:${port}/ws/chat?token=${member.token}`);
      if (socket) {
        let done = false;
        const followed = this.follow(member, socket, [port], () => {
          done = true;
          // what the joins replayed is in: the socket's work is done
          socket.close();
        });
        const timer = setTimeout(() => socket.terminate(), 15_000);
        await followed;
        clearTimeout(timer);
        if (done) return;
      }
      if (Date.now() > deadline) throw new Error(`${member.user} could not resume`);
      await sleep(300);
    }
  }

  private async history(port: number, roomId: string): Promise<StoredRoomMessage[]> {
    const messages: StoredRoomMessage[] = [];
    let before: number | null | undefined;
    for (;;) {
      const query = before !== undefined && before !== null ? `?limit=100&before=${before}` : '?limit=100';
      const page = await rest<{ items: StoredRoomMessage[]; next_before: number | null }>(
        port,
        this.admin,
        'GET',
        `/rooms/${encodeURIComponent(roomId)}/messages${query}`,
      );
      messages.unshift(...page.items);
      if (page.items.length === 0 || page.next_before === null || page.next_before <= 1) break;
      before = page.next_before;
    }
    return messages;
  }
}

// reactions compared as sets: emoji → users, both sorted
function reactionsKey(reactions: Record<string, string[]>): string {
  return JSON.stringify(
    Object.entries(reactions)
      .filter(([, users]) => users.length > 0)
      .map(([emoji, users]) => [emoji, [...users].sort()])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

// The frame an operation sends (the same for every copy).
function frameOf(operation: Operation): object {
  switch (operation.kind) {
    case 'chat':
      return {
        type: 'chat',
        room_id: operation.target,
        client_id: operation.clientId,
        content: operation.content,
      };
    case 'delete':
      return {
        type: 'delete',
        room_id: operation.roomId,
        message_id: operation.messageId,
        client_id: operation.clientId,
      };
    case 'edit':
      return {
        type: 'edit',
        room_id: operation.roomId,
        message_id: operation.messageId,
        client_id: operation.clientId,
        content: operation.content,
      };
    case 'react':
      return {
        type: 'react',
        room_id: operation.roomId,
        message_id: operation.messageId,
        client_id: operation.clientId,
        content: operation.emoji,
        ...(operation.add ? {} : { metadata: { remove: true } }),
      };
  }
}

import {
  isReactionEmoji,
  isRecord,
  type RoomClientFrame,
  type RoomMessageFrame,
} from '../../../shared/protocol';
import { BlockList } from './block-list';
import { ChangeMark } from './change-mark';
import { ResumePoint } from './resume-point';
import { UnreadCount } from './unread-count';

export interface RoomMessage {
  // message_id once stored; `pending:<client_id>` before the ack
  key: string;
  messageId?: string;
  clientId?: string;
  seq?: number;
  userId: string;
  content: string;
  timestamp?: string;
  kind: 'text' | 'system';
  action?: string;
  targetUserId?: string;
  replyTo?: string;
  editedAt?: string;
  deleted: boolean;
  reactions: Record<string, string[]>;
  pending: boolean;
  failed?: string;
  // an edit, delete or reaction of this user on the message is not acked yet (shown as if done)
  opPending?: boolean;
  // the AI's reply (metadata.ai): the model, how it ended, the error when it failed
  ai?: { model: string; outcome: string; error?: string };
}

// An AI reply streaming in a room (ai_stream frames), until its stored message arrives.
export interface AiStream {
  replyId: string;
  replyTo: string;
  askerId: string;
  model: string;
  text: string;
  // the offset in the reply where `text` starts (0 unless joined mid-stream)
  from: number;
  // joined mid-stream (or a frame was missed): the text is not the whole reply so far
  partial: boolean;
  // the end frame came: how it ended (the stored message follows)
  outcome?: string;
}

export interface AiStreamInput {
  roomId: string;
  replyId: string;
  phase: string;
  replyTo: string;
  askerId: string;
  model: string;
  content?: string;
  offset?: number;
  outcome?: string;
}

// An edit, delete or reaction (added or taken back) of this user, from the moment it is made until its
// ack or error (docs/protocol.md, "Rooms", client behaviour): shown over the message meanwhile, and
// sent again with the same client_id after a reconnect once the room is joined again.
export interface PendingOp {
  clientId: string;
  // the user who made it (this client's)
  userId: string;
  messageId: string;
  kind: 'edit' | 'delete' | 'react';
  // the edited text, or the emoji
  content: string;
  // a reaction taken back
  remove: boolean;
  frame: RoomClientFrame;
  // sent on the socket of this connection (false: waits for the room's join on the next one)
  sent: boolean;
  // refused over the budget: sent again after its retry_after
  held?: boolean;
}

export interface RoomThread {
  roomId: string;
  byKey: Map<string, RoomMessage>;
  pendingKeys: Map<string, string>;
  // where a resume starts (join with last_seq): the end of the contiguous run of stored seqs held,
  // never past a missing one (docs/protocol.md, "Resume point")
  resume: ResumePoint;
  // the changed_after a reconnect reads the room's changes with (docs/protocol.md, "Change log"):
  // every change number up to it applied, never past one missed; undefined: the pages are read again
  changes: ChangeMark;
  // the join answered at least once: live frames from now on; a reconnect resumes from resume.point
  joined: boolean;
  // refused, kicked or banned: not in the room (any more); shown, not joined again by itself
  out: boolean;
  // paging cursor for older messages (REST before=); null when the start was reached
  nextBefore: number | null | undefined;
  online: Set<string>;
  typing: Map<string, number>;
  readBy: Map<string, number>;
  // the unread badge, counted as the server counts it (unread-count.ts)
  unread: UnreadCount;
  aiStreams: Map<string, AiStream>;
  // this user's operations not acked yet, by client_id, in the order they were made
  ops: Map<string, PendingOp>;
  // a read of the room's newest page is on its way (after a reconnect): the changes applied
  // meanwhile (frames, acks of ops), applied again over the page, which may be older than they are
  changesDuringRead: Array<(message: RoomMessage) => Partial<RoomMessage>> | null;
  changedDuringRead: string[];
  // the change number each message (its edits and delete) and each reaction carries as far as the
  // device knows (frames' metadata.change, a read of the log's metadata.change and reaction_changes;
  // docs/protocol.md, "Change log"): a change is applied only over an older one (changeKey)
  versions: Map<string, number>;
}

// The messages of every joined room, built from frames that may arrive twice (replay after a
// reconnect, a resend acked again, history pages overlapping the join's replay): each message is kept
// once, keyed by message_id, ordered by seq.
export class RoomStore {
  private threads = new Map<string, RoomThread>();
  // the users this user blocked (block-list.ts): their messages in shared rooms are shown collapsed,
  // their typing not at all
  readonly blocks = new BlockList();

  thread(roomId: string): RoomThread {
    let thread = this.threads.get(roomId);
    if (!thread) {
      thread = {
        roomId,
        byKey: new Map(),
        pendingKeys: new Map(),
        resume: new ResumePoint(),
        changes: new ChangeMark(),
        joined: false,
        out: false,
        nextBefore: undefined,
        online: new Set(),
        typing: new Map(),
        readBy: new Map(),
        unread: new UnreadCount(),
        aiStreams: new Map(),
        ops: new Map(),
        changesDuringRead: null,
        changedDuringRead: [],
        versions: new Map(),
      };
      this.threads.set(roomId, thread);
    }
    return thread;
  }

  hasThread(roomId: string): boolean {
    return this.threads.has(roomId);
  }

  get roomIds(): string[] {
    return [...this.threads.keys()];
  }

  forget(roomId: string): void {
    this.threads.delete(roomId);
  }

  messages(roomId: string): RoomMessage[] {
    const thread = this.threads.get(roomId);
    if (!thread) return [];
    const list = [...thread.byKey.values()];
    // stored by seq; pending ones (no seq yet) after them, in the order they were written
    return list
      .map((message, index) => ({ message, index }))
      .sort((a, b) => (a.message.seq ?? Infinity) - (b.message.seq ?? Infinity) || a.index - b.index)
      .map((entry) => withOps(entry.message, thread.ops));
  }

  // The message as shown: with this user's operations not acked yet.
  find(roomId: string, messageId: string): RoomMessage | undefined {
    const thread = this.threads.get(roomId);
    const message = thread?.byKey.get(messageId);
    return message && thread ? withOps(message, thread.ops) : undefined;
  }

  // ---- this user's edits, deletes and reactions until acked ----

  addOp(roomId: string, op: PendingOp): void {
    this.thread(roomId).ops.set(op.clientId, op);
  }

  ops(roomId: string): PendingOp[] {
    return [...(this.threads.get(roomId)?.ops.values() ?? [])];
  }

  // The op's ack: the server holds it (applied now, or a copy of one applied already), so the message
  // shows it even when the frame telling the room was lost with a socket. Returns false for an
  // unknown client_id (not an op, or settled already).
  ackOp(roomId: string, clientId: string): boolean {
    const thread = this.threads.get(roomId);
    const op = thread?.ops.get(clientId);
    if (!thread || !op) return false;
    thread.ops.delete(clientId);
    this.change(roomId, op.messageId, (message) =>
      applyOp(message, op, message.editedAt ?? new Date().toISOString()),
    );
    return true;
  }

  // The op's error: it is dropped (the message shows what the server holds). False when unknown.
  dropOp(roomId: string, clientId: string): boolean {
    return this.threads.get(roomId)?.ops.delete(clientId) ?? false;
  }

  addPending(roomId: string, input: { clientId: string; userId: string; content: string; replyTo?: string }) {
    const thread = this.thread(roomId);
    const key = `pending:${input.clientId}`;
    thread.byKey.set(key, {
      key,
      clientId: input.clientId,
      userId: input.userId,
      content: input.content,
      replyTo: input.replyTo,
      kind: 'text',
      deleted: false,
      reactions: {},
      pending: true,
      timestamp: new Date().toISOString(),
    });
    thread.pendingKeys.set(input.clientId, key);
  }

  // The sender's ack: the pending message becomes the stored one (once, even when the stored copy
  // already arrived by a replay).
  ack(roomId: string, clientId: string, messageId: string | undefined, seq: number | undefined, at?: string) {
    const thread = this.threads.get(roomId);
    const key = thread?.pendingKeys.get(clientId);
    const pending = key ? thread?.byKey.get(key) : undefined;
    if (!thread || !key || !pending || !messageId) return;
    thread.pendingKeys.delete(clientId);
    thread.byKey.delete(key);
    // the message is held now; an ack may come before a lower seq still on its way to this socket,
    // so it counts for the resume point only once that gap fills
    if (seq !== undefined) thread.resume.seen(seq);
    if (thread.byKey.has(messageId)) return;
    thread.byKey.set(messageId, {
      ...pending,
      key: messageId,
      messageId,
      seq,
      timestamp: at ?? pending.timestamp,
      pending: false,
      failed: undefined,
    });
  }

  // The `join` answered: the socket stands at `seq`, with everything before it sent first.
  joinedAt(roomId: string, seq: number): void {
    this.thread(roomId).resume.standsAt(seq);
  }

  fail(roomId: string, clientId: string, code: string): void {
    const thread = this.threads.get(roomId);
    const key = thread?.pendingKeys.get(clientId);
    const message = key ? thread?.byKey.get(key) : undefined;
    if (message) message.failed = code;
  }

  // The user's Retry: the message is on its way again.
  clearFailure(roomId: string, clientId: string): void {
    const thread = this.threads.get(roomId);
    const key = thread?.pendingKeys.get(clientId);
    const message = key ? thread?.byKey.get(key) : undefined;
    if (message) message.failed = undefined;
  }

  // A stored message (live, replayed or from a history page). Returns true when it is new.
  applyMessage(frame: RoomMessageFrame): boolean {
    const thread = this.thread(frame.room_id);
    thread.resume.seen(frame.seq);
    if (frame.client_id) {
      const key = thread.pendingKeys.get(frame.client_id);
      if (key) {
        thread.byKey.delete(key);
        thread.pendingKeys.delete(frame.client_id);
      }
    }
    const known = thread.byKey.has(frame.message_id);
    thread.byKey.set(frame.message_id, toMessage(frame));
    // an AI reply's stored message takes the place of its stream
    thread.aiStreams.delete(frame.message_id);
    return !known;
  }

  // A frame of an AI reply streaming (docs/protocol.md, "@ai in a room"). Deltas are placed by their
  // offset: a repeat adds nothing; a first one past the start (joined mid-stream) is shown as partial.
  // Frames of a reply already stored start nothing.
  applyAiStream(input: AiStreamInput): void {
    const thread = this.thread(input.roomId);
    if (thread.byKey.has(input.replyId)) return;
    let stream = thread.aiStreams.get(input.replyId);
    if (!stream) {
      const from = input.phase === 'delta' ? (input.offset ?? 0) : 0;
      stream = {
        replyId: input.replyId,
        replyTo: input.replyTo,
        askerId: input.askerId,
        model: input.model,
        text: '',
        from,
        partial: from > 0,
      };
      thread.aiStreams.set(input.replyId, stream);
    }
    if (input.phase === 'end') stream.outcome = input.outcome ?? 'complete';
    if (input.phase !== 'delta' || input.content === undefined || input.offset === undefined) return;
    const expected = stream.from + stream.text.length;
    // a repeat (offset before the end) adds nothing; a gap shows what came, marked partial
    if (input.offset < expected) return;
    if (input.offset > expected) stream.partial = true;
    stream.text += input.content;
  }

  aiStreams(roomId: string): AiStream[] {
    return [...(this.threads.get(roomId)?.aiStreams.values() ?? [])];
  }

  // `change`: the change's number, when the frame named one (docs/protocol.md, "Change log")
  applyEdit(roomId: string, messageId: string, content: string, editedAt: string, change?: number): void {
    this.change(roomId, messageId, (message) => (message.deleted ? {} : { content, editedAt }), {
      key: changeKey(messageId),
      n: change,
    });
  }

  // a delete is applied whatever number it carries: nothing comes after it (its number still tells
  // an older edit apart)
  applyDelete(roomId: string, messageId: string, change?: number): void {
    this.change(roomId, messageId, () => ({ content: '', deleted: true, reactions: {} }), {
      key: changeKey(messageId),
      n: change,
      always: true,
    });
  }

  applyReact(
    roomId: string,
    messageId: string,
    userId: string,
    emoji: string,
    removed: boolean,
    change?: number,
  ): void {
    const version = { key: changeKey(messageId, userId, emoji), n: change };
    this.change(
      roomId,
      messageId,
      (message) => {
        if (!isReactionEmoji(emoji)) return {};
        const users = (message.reactions[emoji] ?? []).filter((id) => id !== userId);
        if (!removed) users.push(userId);
        const reactions = { ...message.reactions };
        if (users.length > 0) reactions[emoji] = users;
        else delete reactions[emoji];
        return { reactions };
      },
      version,
    );
  }

  // A read of the room's change log names the numbers its message and reactions carry
  // (`metadata.change`, `metadata.reaction_changes`): what the thread holds of them is that new.
  noteVersions(roomId: string, messageId: string, metadata: Record<string, unknown>): void {
    const thread = this.threads.get(roomId);
    if (!thread) return;
    const note = (key: string, n: unknown) => {
      if (isChangeNumber(n) && n > (thread.versions.get(key) ?? -1)) thread.versions.set(key, n);
    };
    note(changeKey(messageId), metadata.change);
    if (!isRecord(metadata.reaction_changes)) return;
    for (const [emoji, users] of Object.entries(metadata.reaction_changes))
      if (isRecord(users))
        for (const [userId, n] of Object.entries(users)) note(changeKey(messageId, userId, emoji), n);
  }

  // A change to a stored message the thread holds (a frame, or the ack of this user's op), kept
  // while a read of the newest page is on its way, to be applied again over it. `version`: the
  // change's number and what it changes (changeKey): it is applied, now or again over a read, only
  // when the thread knows no newer change of that message or reaction.
  private change(
    roomId: string,
    messageId: string,
    change: (message: RoomMessage) => Partial<RoomMessage>,
    version?: { key: string; n?: number; always?: boolean },
  ): void {
    const thread = this.threads.get(roomId);
    const message = thread?.byKey.get(messageId);
    if (!thread || !message) return;
    const n = version?.n;
    const key = version?.key ?? '';
    const apply =
      !isChangeNumber(n) || version?.always
        ? change
        : (held: RoomMessage) => ((thread.versions.get(key) ?? -1) > n ? {} : change(held));
    Object.assign(message, apply(message));
    if (isChangeNumber(n) && n > (thread.versions.get(key) ?? -1)) thread.versions.set(key, n);
    if (thread.changesDuringRead) {
      thread.changesDuringRead.push(apply);
      thread.changedDuringRead.push(messageId);
    }
  }

  // ---- the newest page read again after a reconnect (docs/protocol.md, "Resume point") ----

  // The read goes out: from now on the changes applied are kept.
  startRead(roomId: string): void {
    const thread = this.thread(roomId);
    thread.changesDuringRead = [];
    thread.changedDuringRead = [];
  }

  // The read's page was merged (its messages applied as stored ones, replacing what the thread
  // held of them): the changes that came while it was on its way are applied again over it, in the
  // order they came (each is a plain set: the text, the deleted mark, one user's reaction), so a
  // page read before them does not undo them. `merged` false: the read failed; nothing to redo.
  endRead(roomId: string, merged: boolean): void {
    const thread = this.threads.get(roomId);
    if (!thread?.changesDuringRead) return;
    const changes = thread.changesDuringRead;
    const ids = thread.changedDuringRead;
    thread.changesDuringRead = null;
    thread.changedDuringRead = [];
    if (!merged) return;
    changes.forEach((change, index) => {
      const message = thread.byKey.get(ids[index]);
      if (message) Object.assign(message, change(message));
    });
  }

  setTyping(roomId: string, userId: string, typing: boolean, until: number): void {
    const thread = this.thread(roomId);
    if (typing) thread.typing.set(userId, until);
    else thread.typing.delete(userId);
  }

  // who is typing, blocked users left out
  typingUsers(roomId: string, now: number): string[] {
    const thread = this.threads.get(roomId);
    if (!thread) return [];
    return [...thread.typing.entries()]
      .filter(([userId, until]) => until > now && !this.blocks.has(userId))
      .map(([userId]) => userId);
  }

  // The oldest stored seq held: the cursor of the next page when the server gave none yet.
  oldestSeq(roomId: string): number | undefined {
    const seqs = this.messages(roomId).flatMap((message) => (message.seq !== undefined ? [message.seq] : []));
    return seqs.length > 0 ? Math.min(...seqs) : undefined;
  }
}

// what an op leaves of a message
function applyOp(message: RoomMessage, op: PendingOp, editedAt: string): Partial<RoomMessage> {
  if (message.deleted) return {};
  switch (op.kind) {
    case 'edit':
      return { content: op.content, editedAt };
    case 'delete':
      return { content: '', deleted: true, reactions: {} };
    case 'react': {
      // a reaction is one emoji: a name like __proto__ never becomes a key (a store's old data)
      if (!isReactionEmoji(op.content)) return {};
      const users = (message.reactions[op.content] ?? []).filter((id) => id !== op.userId);
      if (!op.remove) users.push(op.userId);
      const reactions = { ...message.reactions };
      if (users.length > 0) reactions[op.content] = users;
      else delete reactions[op.content];
      return { reactions };
    }
  }
}

// the message with this user's pending ops on it, in the order they were made (a copy; the stored
// one is kept as the server sent it)
function withOps(message: RoomMessage, ops: Map<string, PendingOp>): RoomMessage {
  if (ops.size === 0 || !message.messageId) return message;
  let shown = message;
  for (const op of ops.values())
    if (op.messageId === message.messageId)
      shown = {
        ...shown,
        ...applyOp(shown, op, shown.editedAt ?? new Date().toISOString()),
        opPending: true,
      };
  return shown;
}

function toMessage(frame: RoomMessageFrame): RoomMessage {
  const metadata = frame.metadata ?? { kind: 'text' };
  return {
    key: frame.message_id,
    messageId: frame.message_id,
    clientId: frame.client_id,
    seq: frame.seq,
    userId: frame.user_id,
    content: frame.content ?? '',
    timestamp: frame.timestamp,
    kind: metadata.kind === 'system' ? 'system' : 'text',
    action: typeof metadata.action === 'string' ? metadata.action : undefined,
    targetUserId: typeof metadata.target_user_id === 'string' ? metadata.target_user_id : undefined,
    replyTo: typeof metadata.reply_to === 'string' ? metadata.reply_to : undefined,
    editedAt: typeof metadata.edited_at === 'string' ? metadata.edited_at : undefined,
    deleted: metadata.deleted === true,
    reactions: parseReactions(metadata.reactions),
    pending: false,
    ...(frame.user_id === 'ai' && isRecord(metadata.ai) ? { ai: parseAi(metadata.ai) } : {}),
  };
}

function parseAi(value: Record<string, unknown>): NonNullable<RoomMessage['ai']> {
  return {
    model: typeof value.model === 'string' ? value.model : '',
    outcome: typeof value.outcome === 'string' ? value.outcome : 'complete',
    ...(typeof value.error === 'string' ? { error: value.error } : {}),
  };
}

function parseReactions(value: unknown): Record<string, string[]> {
  if (!isRecord(value)) return {};
  const reactions: Record<string, string[]> = {};
  for (const [emoji, users] of Object.entries(value))
    // one emoji each: a stored name like __proto__ or constructor is left out, never made a key
    if (Array.isArray(users) && isReactionEmoji(emoji)) {
      const ids = users.filter((id): id is string => typeof id === 'string');
      if (ids.length > 0) reactions[emoji] = ids;
    }
  return reactions;
}

// A change frame (`edit`, `delete`, `react`) applied to the store as the client applies it
// (docs/protocol.md, "Rooms"): an edit of a deleted message, or any change to a message the thread
// does not hold, is dropped; its change number (`metadata.change`) counts for the room's change mark
// either way. `changes` is a read of the room's change log (GET /rooms/:id/messages?changed_after=,
// docs/protocol.md "Change log") put as a frame: `items`, the changed messages as they are now, take
// the place of the ones the thread holds (one it does not hold is not added), and the mark moves
// through `changed_through`. The one place changes to held messages are applied; the chaos test's
// devices apply frames through this too (test/chaos/room-chaos.ts). Returns false for any other frame.
export function applyChangeFrame(store: RoomStore, frame: Record<string, unknown>): boolean {
  const { roomId, userId, messageId, metadata } = frameFields(frame);
  // the device has the change once it is applied to a message it holds, or when the message is below
  // where it stands and not held (a page read later brings it as it is now); a change of a message
  // above that (a lower seq missing, or not come yet) is dropped and does not count for the mark:
  // the message may still come as stored before the change (a gap read carries no reactions), and
  // only a read of the log through the number sets it right
  const had = () =>
    store.hasThread(roomId) &&
    (store.thread(roomId).byKey.has(messageId) || isBelow(store.thread(roomId), frame.seq));
  const change = isChangeNumber(metadata.change) ? metadata.change : undefined;
  let counts: boolean;
  switch (frame.type) {
    case 'edit':
      counts = had();
      if (typeof frame.content === 'string')
        store.applyEdit(roomId, messageId, frame.content, String(metadata.edited_at ?? ''), change);
      break;
    case 'delete':
      counts = had();
      store.applyDelete(roomId, messageId, change);
      break;
    case 'react':
      counts = had();
      if (typeof frame.content === 'string')
        store.applyReact(roomId, messageId, userId, frame.content, metadata.removed === true, change);
      break;
    case 'changes': {
      const thread = store.hasThread(roomId) ? store.thread(roomId) : undefined;
      if (!thread) return true;
      // a message changed that the device is still to get: the read cannot apply it, so the mark
      // stays where it is and the next read names it again
      let missed = false;
      for (const item of Array.isArray(frame.items) ? frame.items : []) {
        const message = asMessageFrame(item);
        if (!message || message.room_id !== roomId) continue;
        if (thread.byKey.has(message.message_id)) {
          store.applyMessage(message);
          store.noteVersions(roomId, message.message_id, message.metadata);
        } else if (!isBelow(thread, message.seq)) missed = true;
      }
      if (typeof frame.changed_through === 'number' && !missed) thread.changes.through(frame.changed_through);
      return true;
    }
    default:
      return false;
  }
  if (counts && typeof metadata.change === 'number') store.thread(roomId).changes.seen(metadata.change);
  return true;
}

// what a change changes, for its number (RoomThread.versions): a message's text and deleted mark, or
// one user's reaction with one emoji on it
function changeKey(messageId: string, userId?: string, emoji?: string): string {
  return userId === undefined
    ? `m\u0000${messageId}`
    : `r\u0000${messageId}\u0000${userId}\u0000${emoji ?? ''}`;
}

function isChangeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

// a seq at or below where the thread stands (its resume point): a message it holds, or one older than
// its history that a page read would bring as it is now
function isBelow(thread: RoomThread, seq: unknown): boolean {
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq <= thread.resume.point;
}

// The envelope fields of a server frame, '' (or {}) where absent or of another type.
export function frameFields(frame: Record<string, unknown>): {
  roomId: string;
  userId: string;
  messageId: string;
  metadata: Record<string, unknown>;
} {
  return {
    roomId: typeof frame.room_id === 'string' ? frame.room_id : '',
    userId: typeof frame.user_id === 'string' ? frame.user_id : '',
    messageId: typeof frame.message_id === 'string' ? frame.message_id : '',
    metadata: isRecord(frame.metadata) ? frame.metadata : {},
  };
}

// A stored message as the server sends it (live, replayed, or in a history page); anything else is
// not one.
export function asMessageFrame(value: unknown): RoomMessageFrame | null {
  if (!isRecord(value)) return null;
  const { room_id, message_id, seq, user_id } = value;
  if (typeof room_id !== 'string' || typeof message_id !== 'string' || typeof user_id !== 'string')
    return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) return null;
  return {
    type: 'chat',
    room_id,
    message_id,
    seq,
    user_id,
    timestamp: typeof value.timestamp === 'string' ? value.timestamp : '',
    ...(typeof value.client_id === 'string' ? { client_id: value.client_id } : {}),
    ...(typeof value.content === 'string' ? { content: value.content } : {}),
    metadata: isRecord(value.metadata)
      ? { ...value.metadata, kind: value.metadata.kind === 'system' ? 'system' : 'text' }
      : { kind: 'text' },
  };
}

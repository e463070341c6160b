import type { RoomMessageFrame } from '../../../shared/protocol';
import { applyStreamFrame } from './ai-streams';
import { BlockList } from './block-list';
import {
  deleteMessage,
  editMessage,
  keepChangesDuringRead,
  noteChangeNumbers,
  reactToMessage,
  redoChangesOverRead,
} from './message-changes';
import { toMessage } from './message-parse';
import { ackPending, addPendingMessage, setFailure } from './pending-messages';
import { applyOpAck, withOps } from './pending-ops';
import {
  newThread,
  type AiStream,
  type AiStreamInput,
  type PendingOp,
  type RoomMessage,
  type RoomThread,
} from './thread-state';

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
      thread = newThread(roomId);
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

  // ---- this user's edits, deletes and reactions until acked (pending-ops.ts) ----

  addOp(roomId: string, op: PendingOp): void {
    this.thread(roomId).ops.set(op.clientId, op);
  }

  ops(roomId: string): PendingOp[] {
    return [...(this.threads.get(roomId)?.ops.values() ?? [])];
  }

  ackOp(roomId: string, clientId: string): boolean {
    return applyOpAck(this.threads.get(roomId), clientId);
  }

  // The op's error: it is dropped (the message shows what the server holds). False when unknown.
  dropOp(roomId: string, clientId: string): boolean {
    return this.threads.get(roomId)?.ops.delete(clientId) ?? false;
  }

  // ---- this user's messages until acked (pending-messages.ts) ----

  addPending(roomId: string, input: { clientId: string; userId: string; content: string; replyTo?: string }) {
    addPendingMessage(this.thread(roomId), input);
  }

  ack(roomId: string, clientId: string, messageId: string | undefined, seq: number | undefined, at?: string) {
    ackPending(this.threads.get(roomId), clientId, messageId, seq, at);
  }

  // The `join` answered: the socket stands at `seq`, with everything before it sent first.
  joinedAt(roomId: string, seq: number): void {
    this.thread(roomId).resume.standsAt(seq);
  }

  fail(roomId: string, clientId: string, code: string): void {
    setFailure(this.threads.get(roomId), clientId, code);
  }

  // The user's Retry: the message is on its way again.
  clearFailure(roomId: string, clientId: string): void {
    setFailure(this.threads.get(roomId), clientId, undefined);
  }

  // ---- what the server sends ----

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

  // an AI reply's frame (ai-streams.ts)
  applyAiStream(input: AiStreamInput): void {
    applyStreamFrame(this.thread(input.roomId), input);
  }

  aiStreams(roomId: string): AiStream[] {
    return [...(this.threads.get(roomId)?.aiStreams.values() ?? [])];
  }

  // edits, deletes, reactions and their change numbers (message-changes.ts)

  applyEdit(roomId: string, messageId: string, content: string, editedAt: string, change?: number): void {
    editMessage(this.threads.get(roomId), messageId, content, editedAt, change);
  }

  applyDelete(roomId: string, messageId: string, change?: number): void {
    deleteMessage(this.threads.get(roomId), messageId, change);
  }

  applyReact(
    roomId: string,
    messageId: string,
    userId: string,
    emoji: string,
    removed: boolean,
    change?: number,
  ): void {
    reactToMessage(this.threads.get(roomId), messageId, userId, emoji, removed, change);
  }

  noteVersions(roomId: string, messageId: string, metadata: Record<string, unknown>): void {
    noteChangeNumbers(this.threads.get(roomId), messageId, metadata);
  }

  // ---- the newest page read again after a reconnect (message-changes.ts) ----

  startRead(roomId: string): void {
    keepChangesDuringRead(this.thread(roomId));
  }

  endRead(roomId: string, merged: boolean): void {
    redoChangesOverRead(this.threads.get(roomId), merged);
  }

  // ---- typing and paging ----

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

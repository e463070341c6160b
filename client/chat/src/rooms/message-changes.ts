import { isReactionEmoji, isRecord } from '../../../shared/protocol';
import type { RoomMessage, RoomThread } from './thread-state';

// A change to a stored message the thread holds (a frame, or the ack of this user's op), kept
// while a read of the newest page is on its way, to be applied again over it. `version`: the
// change's number and what it changes (changeKey): it is applied, now or again over a read, only
// when the thread knows no newer change of that message or reaction.
export function changeMessage(
  thread: RoomThread | undefined,
  messageId: string,
  change: (message: RoomMessage) => Partial<RoomMessage>,
  version?: { key: string; n?: number; always?: boolean },
): void {
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

// `change`: the change's number, when the frame named one (docs/protocol.md, "Change log")
export function editMessage(
  thread: RoomThread | undefined,
  messageId: string,
  content: string,
  editedAt: string,
  change?: number,
): void {
  changeMessage(thread, messageId, (message) => (message.deleted ? {} : { content, editedAt }), {
    key: changeKey(messageId),
    n: change,
  });
}

// a delete is applied whatever number it carries: nothing comes after it (its number still tells
// an older edit apart)
export function deleteMessage(thread: RoomThread | undefined, messageId: string, change?: number): void {
  changeMessage(thread, messageId, () => ({ content: '', deleted: true, reactions: {} }), {
    key: changeKey(messageId),
    n: change,
    always: true,
  });
}

export function reactToMessage(
  thread: RoomThread | undefined,
  messageId: string,
  userId: string,
  emoji: string,
  removed: boolean,
  change?: number,
): void {
  const version = { key: changeKey(messageId, userId, emoji), n: change };
  changeMessage(
    thread,
    messageId,
    (message) => {
      // a deleted message has no reactions: one that comes after its delete (made on another
      // instance as the delete landed, or reordered between instances) is not shown on it
      if (message.deleted || !isReactionEmoji(emoji)) return {};
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
export function noteChangeNumbers(
  thread: RoomThread | undefined,
  messageId: string,
  metadata: Record<string, unknown>,
): void {
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

// ---- the newest page read again after a reconnect (docs/protocol.md, "Resume point") ----

// The read goes out: from now on the changes applied are kept.
export function keepChangesDuringRead(thread: RoomThread): void {
  thread.changesDuringRead = [];
  thread.changedDuringRead = [];
}

// The read's page was merged (its messages applied as stored ones, replacing what the thread
// held of them): the changes that came while it was on its way are applied again over it, in the
// order they came (each is a plain set: the text, the deleted mark, one user's reaction), so a
// page read before them does not undo them. `merged` false: the read failed; nothing to redo.
export function redoChangesOverRead(thread: RoomThread | undefined, merged: boolean): void {
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

// what a change changes, for its number (RoomThread.versions): a message's text and deleted mark, or
// one user's reaction with one emoji on it
function changeKey(messageId: string, userId?: string, emoji?: string): string {
  return userId === undefined
    ? `m\u0000${messageId}`
    : `r\u0000${messageId}\u0000${userId}\u0000${emoji ?? ''}`;
}

export function isChangeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

import { isChangeNumber } from './message-changes';
import { asMessageFrame, frameFields } from './message-parse';
import type { RoomStore } from './room-store';
import type { RoomThread } from './thread-state';

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

// a seq at or below where the thread stands (its resume point): a message it holds, or one older than
// its history that a page read would bring as it is now
function isBelow(thread: RoomThread, seq: unknown): boolean {
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq <= thread.resume.point;
}

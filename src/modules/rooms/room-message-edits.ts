import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import type { RoomMessage } from './schemas/room-message.schema';
import { CLIENT_IDS_KEPT } from './room-rules';
import type { RoomMessageRecord } from './room.types';

export type EditOutcome = 'edited' | 'superseded' | 'gone';
// 'repeat': deleted already by this user with this client_id (a copy of the delete sent again)
export type DeleteOutcome = 'deleted' | 'repeat' | 'gone';

// The edits and soft deletes of chat_messages (RoomMessagesRepository.edit and softDelete), which only
// that class constructs.
export class RoomMessageEdits {
  constructor(
    private readonly messages: Model<RoomMessage>,
    private readonly cipher: ContentCipher,
    // the repository's read of one message of the room (RoomMessagesRepository.find)
    private readonly find: (roomId: string, messageId: string) => Promise<RoomMessageRecord | null>,
  ) {}

  // Keeps the text before the edit. Of two edits of one message the later to reach the server (`at`)
  // stands, and a copy of an edit applied already (its `clientId` again: a resend after a cut socket,
  // which its first instance handled late) changes nothing: 'superseded'. 'gone': deleted or never
  // there. The caller holds the message's lock: FerretDB 1.24's compare-and-set is not atomic.
  // `take` (the room's change log, docs/protocol.md "Change log"): called once the edit is to be
  // written, its number stored on the message in the same write as the edit.
  async edit(
    roomId: string,
    messageId: string,
    content: string,
    at: Date,
    clientId?: string,
    take?: () => Promise<number>,
  ): Promise<EditOutcome> {
    const current = await this.messages
      .findOne({ _id: messageId, room_id: roomId, deleted_at: null })
      .lean<RoomMessage>();
    if (!current) return 'gone';
    if (clientId !== undefined && current.edit_client_ids?.includes(clientId)) return 'superseded';
    if (current.edited_at && current.edited_at > at) return 'superseded';
    const history = current.content !== undefined ? [{ content: current.content, at }] : [];
    const set: Record<string, unknown> = { content: this.cipher.encrypt(content), edited_at: at };
    if (clientId !== undefined)
      set.edit_client_ids = [...(current.edit_client_ids ?? []), clientId].slice(-CLIENT_IDS_KEPT);
    // an edit that arrived later has landed meanwhile (ties: the later write, as one socket's frames
    // are handled in order)
    const newer: Record<string, unknown>[] = [{ $or: [{ edited_at: null }, { edited_at: { $lte: at } }] }];
    if (take) {
      set.change = await take();
      // and only over a lower change number (as a reaction's: ReactionsRepository.set)
      newer.push({ $or: [{ change: null }, { change: { $lt: set.change } }] });
    }
    const result = await this.messages.updateOne(
      { _id: messageId, room_id: roomId, deleted_at: null, $and: newer },
      { $set: set, $push: { edits: { $each: history } } },
    );
    if (result.matchedCount === 1) return 'edited';
    return (await this.find(roomId, messageId))?.deleted_at === null ? 'superseded' : 'gone';
  }

  // Soft delete: the message keeps its place (seq, sender, time) and loses its text, history and
  // file (`file_id` and `metadata.file`: the caller discards the file). A copy of the delete that
  // removed it (the same user and client_id: a resend after a cut socket) is 'repeat'; any other
  // delete of a deleted message, 'gone'. The caller holds the message's lock. The message is read
  // first (its metadata, written only at insert), so `take` (as for edit) takes no number for a
  // delete that finds it deleted already.
  async softDelete(
    roomId: string,
    messageId: string,
    by: string,
    clientId?: string,
    now = new Date(),
    take?: () => Promise<number>,
  ): Promise<DeleteOutcome> {
    const set: Record<string, unknown> = { deleted_at: now, deleted_by: by };
    const unset: Record<string, ''> = { content: '', edits: '', file_id: '' };
    if (clientId !== undefined) set.delete_client_id = clientId;
    const live = await this.messages
      .findOne({ _id: messageId, room_id: roomId, deleted_at: null }, { metadata: 1 })
      .lean<Pick<RoomMessage, 'metadata'>>();
    if (live?.metadata?.file !== undefined) {
      // the whole field written again (no dotted path: one semantics fewer to trust the store with)
      const rest = { ...live.metadata };
      delete rest.file;
      if (Object.keys(rest).length > 0) set.metadata = rest;
      else unset.metadata = '';
    }
    if (live && take) set.change = await take();
    const result = live
      ? await this.messages.updateOne(
          { _id: messageId, room_id: roomId, deleted_at: null },
          { $set: set, $unset: unset },
        )
      : { matchedCount: 0 };
    if (result.matchedCount === 1) return 'deleted';
    if (clientId === undefined) return 'gone';
    const stored = await this.messages
      .findOne({ _id: messageId, room_id: roomId }, { deleted_by: 1, delete_client_id: 1 })
      .lean<Pick<RoomMessage, 'deleted_by' | 'delete_client_id'>>();
    return stored?.deleted_by === by && stored.delete_client_id === clientId ? 'repeat' : 'gone';
  }
}

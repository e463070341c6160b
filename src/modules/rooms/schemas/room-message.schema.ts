import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

@Schema({ _id: false, versionKey: false })
export class MessageEdit {
  // the text before this edit (encrypted)
  @Prop({ required: true }) content!: string;
  @Prop({ required: true }) at!: Date;
}
export const MessageEditSchema = SchemaFactory.createForClass(MessageEdit);

// One document per room message. `seq` comes from inserting at head + 1 and retrying on the unique
// (room_id, seq) index, never from a counter: FerretDB 1.24 applies $inc as an unlocked
// read-modify-write (docs/protocol.md, "The store"). A message sent with a client_id has an `_id`
// derived from (room, sender, client_id), so a resend collides with the stored copy and gets it back;
// `dedup_key` holds the same triple under a unique index of its own. `content` is AES-256-GCM ciphertext.
@Schema({ collection: 'chat_messages', versionKey: false })
export class RoomMessage {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) seq!: number;
  @Prop({ required: true }) sender_id!: string;
  @Prop({ required: true }) kind!: string;
  // `${room}|${sender}|${client_id}` (dedupKeyOf: `|` and `\` escaped in the sender), or
  // `${room}|#${_id}` for a message without client_id
  @Prop({ required: true }) dedup_key!: string;
  @Prop() client_id?: string;
  @Prop() content?: string;
  @Prop() file_id?: string;
  @Prop() reply_to?: string;
  @Prop({ type: Object }) metadata?: Record<string, unknown>;
  @Prop({ required: true }) created_at!: Date;
  @Prop({ type: Date, default: null }) edited_at!: Date | null;
  @Prop({ type: [MessageEditSchema], default: undefined }) edits?: MessageEdit[];
  // the client_ids of the newest edits applied: a copy of one that comes again changes nothing
  @Prop({ type: [String], default: undefined }) edit_client_ids?: string[];
  @Prop({ type: Date, default: null }) deleted_at!: Date | null;
  @Prop({ type: String, default: null }) deleted_by!: string | null;
  // the client_id of the delete that removed it: a copy of that delete is acked again, changing nothing
  @Prop() delete_client_id?: string;
  // the room's change number of the last edit or delete (docs/protocol.md, "Change log"), written
  // with it: its change-log entry is settled once the message carries it
  @Prop() change?: number;
}
export const RoomMessageSchema = SchemaFactory.createForClass(RoomMessage);
RoomMessageSchema.index({ room_id: 1, seq: 1 }, { unique: true });
RoomMessageSchema.index({ dedup_key: 1 }, { unique: true });
// Unread counts (RoomMessagesRepository.unreadOf) test kind and sender_id over a room's seq range: with
// them in the index the store counts from its entries alone, without reading a message (MongoDB: a
// covered count; FerretDB's build, which indexes them as their SQL value: ~10 µs a message less,
// pushdown-zrooms.patch). One more index entry per message written.
RoomMessageSchema.index({ room_id: 1, seq: 1, kind: 1, sender_id: 1 });
// created_at (retention) is indexed by RoomMessagesRepository: a TTL index where the store has them

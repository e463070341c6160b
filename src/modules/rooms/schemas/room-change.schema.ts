import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// The change log of a room (docs/protocol.md, "Change log"): one document per change to a stored
// message (an edit, a soft delete, a reaction added or taken back), `_id` `${room}|${n}` with `n` the
// room's change number. Numbers come from inserting at the head + 1 and retrying on the unique `_id`,
// never from a counter (FerretDB 1.24 applies $inc as an unlocked read-modify-write), so they are
// unique, and a number is taken only above one that exists: what a reader sees is a contiguous run.
// The changed document (the message, or the reaction `doc`) carries the number (`change`) in the
// same write as the change itself: an entry is settled once that document carries it (or a later
// one), when it is `void` (the change did not happen), or once it is older than the settle time.
@Schema({ collection: 'chat_room_changes', versionKey: false })
export class RoomChange {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) n!: number;
  @Prop({ required: true }) message_id!: string;
  // the reaction's `_id` for a reaction's change; absent for an edit or delete (the message carries it)
  @Prop() reaction_id?: string;
  // the message's time: entries go with their message when retention removes it
  @Prop({ required: true }) message_at!: Date;
  // when the number was taken
  @Prop({ required: true }) at!: Date;
  // the change did not happen (superseded, a copy, refused): nothing to read for it
  @Prop({ type: Boolean }) void?: boolean;
}
export const RoomChangeSchema = SchemaFactory.createForClass(RoomChange);
RoomChangeSchema.index({ room_id: 1, n: 1 }, { unique: true });
RoomChangeSchema.index({ message_at: 1 });

import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// A reaction: `_id` `${message}|${user}|${emoji}`, inserted to react and marked `removed` to take it
// back (no $addToSet on a shared document: FerretDB 1.24 loses concurrent array updates). `at`: when
// the last operation on it reached the server; an earlier one landing later changes nothing
// (ReactionsRepository.set), nor does a copy of an operation applied already (`client_ids`).
// Documents written before these were added have none of them: present.
@Schema({ collection: 'chat_reactions', versionKey: false })
export class Reaction {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) message_id!: string;
  @Prop({ required: true }) user_id!: string;
  @Prop({ required: true }) emoji!: string;
  // the message's time: reactions go with their message when retention removes it
  @Prop({ required: true }) message_at!: Date;
  @Prop({ type: Boolean }) removed?: boolean;
  @Prop({ type: Date }) at?: Date;
  // the client_ids of the newest operations applied: a copy of one that comes again changes nothing
  @Prop({ type: [String], default: undefined }) client_ids?: string[];
  // the room's change number of the last operation on it (docs/protocol.md, "Change log")
  @Prop() change?: number;
}
export const ReactionSchema = SchemaFactory.createForClass(Reaction);
ReactionSchema.index({ message_id: 1 });
ReactionSchema.index({ message_at: 1 });

// Where a member has read up to, `_id` `${room}|${user}`: its own document, so frequent read marks
// never rewrite the membership document a moderator may be changing at the same moment.
@Schema({ collection: 'chat_read_marks', versionKey: false })
export class ReadMark {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) user_id!: string;
  @Prop({ required: true }) seq!: number;
}
export const ReadMarkSchema = SchemaFactory.createForClass(ReadMark);

// A user's block of another, `_id` `${blocker}|${blocked}`: direct messages from the blocked user
// are refused.
@Schema({ collection: 'chat_blocks', versionKey: false })
export class Block {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) blocker_id!: string;
  @Prop({ required: true }) blocked_id!: string;
  @Prop({ required: true }) at!: Date;
}
export const BlockSchema = SchemaFactory.createForClass(Block);
BlockSchema.index({ blocker_id: 1 });
// who blocked a user (BlocksRepository.counterparts: presence does not cross a block)
BlockSchema.index({ blocked_id: 1 });

// What a report keeps of the reported message, as it was when reported: its author may edit or
// delete it before an admin looks (docs/protocol.md, "Reports"). Text and file name encrypted.
@Schema({ _id: false, versionKey: false })
export class ReportedMessage {
  @Prop({ required: true }) seq!: number;
  @Prop({ required: true }) sent_at!: Date;
  @Prop({ type: Date }) edited_at?: Date;
  // deleted before it was reported: no text is left to keep
  @Prop({ type: Boolean }) deleted?: boolean;
  @Prop() content?: string;
  @Prop() file_name?: string;
  // unreadable when reported (a key no longer listed): no text or file name kept
  @Prop({ type: Boolean }) unreadable?: boolean;
}
export const ReportedMessageSchema = SchemaFactory.createForClass(ReportedMessage);

// A message reported to the admins, kept for ROOM_RETENTION after the report (the retention sweep).
@Schema({ collection: 'chat_reports', versionKey: false })
export class Report {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) message_id!: string;
  @Prop({ required: true }) reporter_id!: string;
  @Prop({ required: true }) sender_id!: string;
  // the reporter's own words (encrypted)
  @Prop() reason?: string;
  // absent on reports made before it was kept
  @Prop({ type: ReportedMessageSchema }) reported?: ReportedMessage;
  @Prop({ required: true }) at!: Date;
}
export const ReportSchema = SchemaFactory.createForClass(Report);
ReportSchema.index({ at: -1 });

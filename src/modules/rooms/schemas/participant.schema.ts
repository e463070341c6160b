import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

export type ParticipantRole = 'owner' | 'moderator' | 'member';
// invited: may join a private room; member: reads and writes; left/kicked: may join again (public,
// or invited again); banned: may not join until unbanned
export type ParticipantState = 'invited' | 'member' | 'left' | 'kicked' | 'banned';

// One document per (room, user), `_id` `${room}|${user}`: membership is a single keyed read.
@Schema({ collection: 'chat_participants', versionKey: false })
export class Participant {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) user_id!: string;
  @Prop({ required: true }) role!: ParticipantRole;
  @Prop({ required: true }) state!: ParticipantState;
  @Prop({ type: Date, default: null }) muted_until!: Date | null;
  @Prop({ required: true }) updated_at!: Date;
  // whether the user's token named a chatbox admin when they last wrote their own membership here
  // (made the room, joined, opened the direct message), and when: the newest of a user's documents
  // is what rooms know of them (ParticipantsRepository.adminAsLastSeen). Absent on documents written
  // before, or only by others (an invitation, a ban).
  @Prop({ type: Boolean }) admin?: boolean;
  @Prop({ type: Date }) admin_at?: Date;
}
export const ParticipantSchema = SchemaFactory.createForClass(Participant);
// a user's rooms; a room's members
ParticipantSchema.index({ user_id: 1, state: 1 });
ParticipantSchema.index({ room_id: 1, state: 1, user_id: 1 });

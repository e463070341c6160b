import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

export type RoomKind = 'public' | 'private' | 'dm';

// One document per room. A direct message's `_id` is derived from its two users (dmRoomId), so two
// first messages racing on two instances create it once: the store refuses the second insert.
@Schema({ collection: 'chat_rooms', versionKey: false })
export class Room {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) kind!: RoomKind;
  @Prop({ required: true }) name!: string;
  // the name as public rooms are ordered and searched by (public-room-search.ts nameKey), written
  // with the name; rooms made before have it written once at start (PublicRoomsService)
  @Prop({ type: String }) name_key?: string;
  @Prop({ type: String, default: null }) topic!: string | null;
  @Prop({ required: true }) owner_id!: string;
  // the two users of a direct message, sorted
  @Prop({ type: [String], default: undefined }) dm_users?: string[];
  @Prop({ required: true }) created_at!: Date;
  // a recent highest seq ($max, at most once a minute, and exactly by the retention sweep before it
  // removes anything): where numbering goes on when retention has removed every message of a room
  @Prop({ default: 0 }) last_seq!: number;
  // noted with last_seq; a room list reads the newest message's time from last_seq up (withActivity)
  @Prop({ type: Date, default: null }) last_message_at!: Date | null;
  // room setting: the model `@ai` asks (a configured model id), `off`, or null for the deployment's
  // default model (docs/protocol.md, "@ai in a room"); absent on rooms made before it: null
  @Prop({ type: String, default: null }) ai_model?: string | null;
}
export const RoomSchema = SchemaFactory.createForClass(Room);
// the public list, newest activity first
RoomSchema.index({ kind: 1, last_message_at: -1 });
// every public room, by name (GET /rooms/public: pages and searches, PublicRoomsService)
RoomSchema.index({ kind: 1, name_key: 1, _id: 1 });
// the admin list, newest first
RoomSchema.index({ created_at: -1 });
// the rooms one user made, counted against ROOM_MAX_OWNED (RoomsService.create)
RoomSchema.index({ owner_id: 1, kind: 1 });

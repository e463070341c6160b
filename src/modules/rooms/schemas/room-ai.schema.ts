import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// The AI reply streaming in a room, `_id` = the room: one at a time per room on every instance
// (inserted to start, deleted by reply_id when stored; a unique `_id` insert holds on FerretDB).
// renewed_at moves while it streams; one left stale by a dead instance is ended by another.
@Schema({ collection: 'chat_ai_runs', versionKey: false })
export class RoomAiRun {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) reply_id!: string;
  // the asking message
  @Prop({ required: true }) reply_to!: string;
  @Prop({ required: true }) asker_id!: string;
  @Prop({ required: true }) model!: string;
  // the bus id of the instance streaming it (a stop from elsewhere goes there)
  @Prop({ required: true }) instance!: string;
  @Prop({ required: true }) started_at!: Date;
  @Prop({ required: true }) renewed_at!: Date;
}
export const RoomAiRunSchema = SchemaFactory.createForClass(RoomAiRun);
// the sweep for runs whose instance died
RoomAiRunSchema.index({ renewed_at: 1 });

// What one AI reply in a room cost, `_id` = the reply: billed to the room. A document per reply,
// summed when read, never a counter (FerretDB 1.24 loses concurrent $inc). Not removed by the
// rooms' message retention: billing outlives the messages.
@Schema({ collection: 'chat_ai_usage', versionKey: false })
export class RoomAiUsage {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) room_id!: string;
  @Prop({ required: true }) model!: string;
  @Prop({ required: true }) asker_id!: string;
  @Prop({ required: true }) outcome!: string;
  @Prop({ required: true }) prompt_tokens!: number;
  @Prop({ required: true }) completion_tokens!: number;
  @Prop({ required: true }) total_tokens!: number;
  @Prop({ required: true }) at!: Date;
}
export const RoomAiUsageSchema = SchemaFactory.createForClass(RoomAiUsage);
RoomAiUsageSchema.index({ room_id: 1, at: -1 });

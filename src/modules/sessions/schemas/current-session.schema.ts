import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// Each user's current session, keyed by user id: opening a connection reads it by `_id` instead of
// querying sessions by user. It points at the session made or resumed last; that session is the
// user's active one when its `is_active` is true (ending a session leaves the pointer in place).
@Schema({ collection: 'current_sessions', versionKey: false })
export class CurrentSession {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) session_id!: string;
  @Prop({ required: true }) updated_at!: Date;
}
export const CurrentSessionSchema = SchemaFactory.createForClass(CurrentSession);

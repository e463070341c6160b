import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// An admin's internal note on a session (issue 15): admins only, never sent to the user's socket
// nor put in the user's export. `text` is AES-256-GCM ciphertext like message content.
@Schema({ collection: 'session_notes', versionKey: false })
export class SessionNote {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) session_id!: string;
  @Prop({ required: true }) admin_id!: string;
  @Prop() admin_name?: string;
  @Prop({ required: true }) text!: string;
  @Prop({ required: true }) created_at!: Date;
}
export const SessionNoteSchema = SchemaFactory.createForClass(SessionNote);
SessionNoteSchema.index({ session_id: 1, created_at: 1 });

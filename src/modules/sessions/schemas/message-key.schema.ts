import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// One document per client-sent message that carried a client_id, keyed `${session}|${sender}:${id}`:
// the unique `_id` (which holds on FerretDB too) says "seen before" without reading the session
// document. Kept a week (resends come within seconds; the session log stays the truth), pruned by
// the sweep: FerretDB 1.24 has no TTL indexes (store conformance suite).
@Schema({ collection: 'message_keys', versionKey: false })
export class MessageKey {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) at!: Date;
}
export const MessageKeySchema = SchemaFactory.createForClass(MessageKey);
MessageKeySchema.index({ at: 1 });

import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// A reply admins insert with "/shortcut" in the reply box (issue 15); shared by all admins.
@Schema({ collection: 'canned_responses', versionKey: false })
export class CannedResponse {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) title!: string;
  @Prop({ required: true }) text!: string;
  @Prop({ required: true }) shortcut!: string;
  @Prop({ required: true }) created_by!: string;
  @Prop({ required: true }) updated_at!: Date;
}
export const CannedResponseSchema = SchemaFactory.createForClass(CannedResponse);
CannedResponseSchema.index({ shortcut: 1 });

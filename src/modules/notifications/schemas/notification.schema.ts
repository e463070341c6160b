import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// Every alert and digest, stored before it is sent, with its delivery state: nothing is lost when
// SMTP or Twilio fail, and failed channels are retried with backoff. `reason` (the user's own help
// text) is stored encrypted like message content.
@Schema({ collection: 'notifications', versionKey: false })
export class Notification {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) kind!: string;
  @Prop({ required: true }) type!: string;
  @Prop({ type: String, default: null }) user_id!: string | null;
  @Prop({ type: String, default: null }) session_id!: string | null;
  @Prop({ default: 0 }) affected_users!: number;
  @Prop({ type: String, default: null }) details!: string | null;
  @Prop({ type: String, default: null }) reason!: string | null;
  @Prop({ type: String, default: null }) link!: string | null;
  @Prop({ required: true }) at!: Date;
  @Prop({ type: [String], default: [] }) channels!: string[];
  @Prop({ type: [String], default: [] }) sent!: string[];
  @Prop({ type: [String], default: [] }) sent_to!: string[];
  @Prop({ required: true }) status!: string;
  @Prop({ default: 0 }) attempts!: number;
  @Prop({ type: Date, default: null }) next_attempt_at!: Date | null;
  @Prop({ type: String, default: null }) last_error!: string | null;
  @Prop({ type: String, default: null }) digest_id!: string | null;
  @Prop({ type: Object, default: null }) summary!: Record<string, number> | null;
}
export const NotificationSchema = SchemaFactory.createForClass(Notification);
NotificationSchema.index({ status: 1, next_attempt_at: 1 });
NotificationSchema.index({ type: 1, at: -1 });
NotificationSchema.index({ session_id: 1, at: -1 });
NotificationSchema.index({ digest_id: 1 });

// Unique markers that make cross-instance decisions exact with a plain insert (the unique _id):
// rate-limit slots, digest turns, retry attempts, crash reports.
@Schema({ collection: 'notification_marks', versionKey: false })
export class NotificationMark {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) expires_at!: Date;
  // a rate limit's slot claim (alert-slots.ts): its group, slot and when the slot is free again
  @Prop({ type: String }) group?: string;
  @Prop({ type: Number }) slot?: number;
  @Prop({ type: Date }) until?: Date;
}
export const NotificationMarkSchema = SchemaFactory.createForClass(NotificationMark);
NotificationMarkSchema.index({ expires_at: 1 });
NotificationMarkSchema.index({ group: 1 });

// Running instances and their heartbeats; one that stops beating without shutting down crashed.
@Schema({ collection: 'instances', versionKey: false })
export class InstanceBeat {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) host!: string;
  @Prop({ required: true }) pid!: number;
  @Prop({ required: true }) started_at!: Date;
  @Prop({ required: true }) last_seen!: Date;
}
export const InstanceBeatSchema = SchemaFactory.createForClass(InstanceBeat);
InstanceBeatSchema.index({ last_seen: 1 });

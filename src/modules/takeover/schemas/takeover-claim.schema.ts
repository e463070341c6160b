import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// The takeover lease table. A claim's _id is "<session>:<epoch>": the unique _id is what makes the
// claim an atomic compare-and-set (an insert succeeds for exactly one admin per epoch, on MongoDB
// and on FerretDB alike, which runs updates as read-then-replace). Ending a claim inserts its end
// marker "<session>:<epoch>:end", so exactly one caller ends it, however many race. A lease that
// runs out is decided once, renewed or lapsed, by its verdict "<session>:<epoch>:lease:<ms>:<round>"
// (TakeoverRepository.decideFrom).
@Schema({ collection: 'takeover_claims', versionKey: false })
export class TakeoverClaim {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) session_id!: string;
  @Prop({ required: true }) epoch!: number;
  @Prop({ required: true }) kind!: 'claim' | 'end' | 'lease';
  @Prop() admin_id?: string;
  @Prop() admin_name?: string;
  @Prop() started_at?: Date;
  @Prop() lease_until?: Date;
  // claims the lapse sweep still has to look at; the end marker is the truth, this is an index hint
  @Prop() open?: boolean;
  @Prop() ended_at?: Date;
  @Prop() reason?: string;
  // a lease's verdict: the lease that ended at lease_until was renewed, or lapsed
  @Prop() verdict?: 'renewed' | 'lapsed';
  @Prop() decided_at?: Date;
}
export const TakeoverClaimSchema = SchemaFactory.createForClass(TakeoverClaim);
TakeoverClaimSchema.index({ session_id: 1, epoch: -1 });
TakeoverClaimSchema.index({ open: 1, lease_until: 1 });

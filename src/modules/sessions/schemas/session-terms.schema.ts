import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';

// A session's search index, apart from the session (docs/protocol.md, "Search"): the blind-index
// tokens of every searchable message up to `indexed_seq`, as one union. Written once per turn under
// a lock of its own, after the turn's messages are acked, so neither the ack, the first token nor
// the next append waits for it, and FerretDB's append no longer rewrites the tokens with every
// message.
@Schema({ collection: 'session_terms', versionKey: false })
export class SessionTerms {
  // the session id
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) user_id!: string;
  @Prop({ type: [String], default: [] }) tokens!: string[];
  // the last message seq whose tokens are here: the next write takes the log from there
  @Prop({ required: true }) indexed_seq!: number;
  // the session's activity as of the last write: the newest candidates first
  @Prop({ required: true }) last_activity!: Date;
  // its user deleted the session: a user's search leaves it out before taking the newest candidates
  // (an admin's finds it still)
  @Prop() deleted?: boolean;
  // the key ids (BlindIndex.keyId) of the ENCRYPTION_KEYs its tokens were made with, and `keyed`:
  // made since they are kept (an entry without it was made before, under a key not known). Key
  // rotation re-indexes an entry whose tokens are not all the current key's (docs/protocol.md,
  // "Search")
  @Prop({ type: [String] }) index_keys?: string[];
  @Prop() keyed?: boolean;
}
export const SessionTermsSchema = SchemaFactory.createForClass(SessionTerms);
SessionTermsSchema.index({ user_id: 1, tokens: 1 });
SessionTermsSchema.index({ tokens: 1, last_activity: -1 });

import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { STORED_EVENT_TYPES, type Sender, type StoredEventType } from '../../../protocol/frames';

// One document per session holding its messages and its metadata (seed requirement 4.4).
// `content` and `metadata.file.encrypted_name` are AES-256-GCM ciphertext (see ContentCipher);
// everything else is plain for queries (docs/protocol.md, "Uploads and files").
@Schema({ _id: false, versionKey: false })
export class StoredMessage {
  @Prop({ required: true }) id!: string;
  @Prop({ required: true }) seq!: number;
  @Prop({ type: String, required: true, enum: STORED_EVENT_TYPES }) type!: StoredEventType;
  @Prop({ type: String, required: true }) sender!: Sender;
  @Prop() client_id?: string;
  // "<sender>:<client_id>" for messages a client sent: a resend with the same key is stored once
  @Prop() dedup?: string;
  @Prop() content?: string;
  @Prop({ required: true }) timestamp!: Date;
  @Prop() model_id?: string;
  @Prop() file_id?: string;
  @Prop({ type: Object }) metadata?: Record<string, unknown>;
  // the reason a user gave with feedback on this reply (encrypted like content); the rating is
  // metadata.feedback ('up' | 'down')
  @Prop() feedback_reason?: string;
  // blind index of the content, written until session 10 and no longer read: a found session's
  // messages are matched on their decrypted text (docs/protocol.md, "Search")
  @Prop({ type: [String], default: undefined }) search?: string[];
}
export const StoredMessageSchema = SchemaFactory.createForClass(StoredMessage);

@Schema({ _id: false, versionKey: false })
export class Takeover {
  @Prop({ required: true }) admin_id!: string;
  @Prop() admin_name?: string;
  @Prop({ required: true }) start!: Date;
  @Prop() end?: Date;
}
export const TakeoverSchema = SchemaFactory.createForClass(Takeover);

// The user's rating of a takeover once it ended (issue 15): one per takeover, the latest kept.
@Schema({ _id: false, versionKey: false })
export class Csat {
  @Prop({ required: true }) admin_id!: string;
  @Prop() admin_name?: string;
  @Prop({ required: true }) takeover_start!: Date;
  @Prop({ required: true }) rating!: number;
  // encrypted like message content
  @Prop() comment?: string;
  @Prop({ required: true }) at!: Date;
}
export const CsatSchema = SchemaFactory.createForClass(Csat);

// One period a resumed session was open, before its current one (docs/protocol.md, "Resumed sessions")
@Schema({ _id: false, versionKey: false })
export class OpenPeriod {
  @Prop({ required: true }) start!: Date;
  @Prop({ required: true }) end!: Date;
}
export const OpenPeriodSchema = SchemaFactory.createForClass(OpenPeriod);

@Schema({ collection: 'sessions', versionKey: false })
export class Session {
  @Prop({ type: String, required: true }) _id!: string;
  @Prop({ required: true }) user_id!: string;
  @Prop({ required: true }) name!: string;
  // its owner named it (PATCH): a model's title never replaces that name (docs/protocol.md, "Session
  // titles"); missing on sessions written before session 15, which is false
  @Prop() named_by_user?: boolean;
  @Prop({ required: true }) model_id!: string;
  @Prop({ required: true }) is_active!: boolean;
  @Prop({ required: true }) start_time!: Date;
  @Prop({ type: Date, default: null }) end_time!: Date | null;
  @Prop({ type: Number, default: null }) duration_ms!: number | null;
  // a resumed session's open time (session-rules.ts, OpenTime): absent until its first resume
  @Prop({ type: Date, default: undefined }) resumed_at?: Date;
  @Prop({ type: Number, default: undefined }) open_ms_before?: number;
  @Prop({ type: [OpenPeriodSchema], default: undefined }) open_periods?: OpenPeriod[];
  @Prop({ required: true }) last_activity!: Date;
  @Prop({ type: Date, default: null }) last_message_at!: Date | null;
  @Prop({ default: 0 }) message_count!: number;
  // highest seq stored; messages[i].seq === i + 1
  @Prop({ default: 0 }) seq!: number;
  // the seq of the user's question nothing has answered yet, null when none (kept by each append);
  // undefined in documents written before the field existed: read the messages then
  @Prop({ type: Number, default: null }) open_turn_seq!: number | null;
  @Prop({ type: Number, default: null }) answered_turn_seq!: number | null;
  // running size of stored messages, bounded by MAX_SESSION_BYTES (MongoDB's 16 MB document limit)
  @Prop({ default: 0 }) bytes!: number;
  @Prop({ default: 0 }) prompt_tokens!: number;
  @Prop({ default: 0 }) completion_tokens!: number;
  @Prop({ default: 0 }) total_tokens!: number;
  @Prop({ default: 0 }) response_count!: number;
  @Prop({ default: 0 }) response_ms_total!: number;
  @Prop({ default: 0 }) max_response_ms!: number;
  @Prop({ default: false }) help_requested!: boolean;
  @Prop({ type: Date, default: null }) help_requested_at!: Date | null;
  @Prop({ default: false }) admin_assisted!: boolean;
  @Prop({ type: String, default: null }) assisting_admin_id!: string | null;
  @Prop({ type: String, default: null }) assisting_admin_name!: string | null;
  @Prop({ type: [TakeoverSchema], default: [] }) takeovers!: Takeover[];
  @Prop({ type: [CsatSchema], default: [] }) csat!: Csat[];
  // the takeover in progress: its start and its lease (renewed while the admin is connected)
  @Prop({ type: Date, default: null }) takeover_started_at!: Date | null;
  @Prop({ type: Date, default: null }) takeover_lease_until!: Date | null;
  // a help request no admin has joined yet; answered ones feed the help → join response time
  @Prop({ default: false }) help_pending!: boolean;
  // the last help request whose steps were taken (its seq and client_id): a resend of it takes none
  // again, and one while help waits is told apart from a repeat (docs/protocol.md, "Help requests")
  @Prop({ type: Number, default: null }) help_request_seq!: number | null;
  @Prop({ type: String, default: null }) help_client_id!: string | null;
  // that request came while this takeover (its start) was mirrored: it waits if the takeover lapses
  @Prop({ type: Date, default: null }) help_takeover_started_at!: Date | null;
  @Prop({ default: 0 }) help_response_count!: number;
  @Prop({ default: 0 }) help_response_ms_total!: number;
  @Prop({ default: 0 }) help_response_ms_max!: number;
  // each answered request's time (ms), for the admin metrics' p50/p90; older sessions have only the
  // totals above. Written only by the sessions module (AssistanceRepository.answerHelp).
  @Prop({ type: [Number], default: [] }) help_response_ms!: number[];
  // provider-side state, e.g. Dify's conversation_id
  @Prop({ type: Object, default: {} }) provider_state!: Record<string, unknown>;
  // replies rated by the user (issue 15): the admin list filters on feedback_down > 0
  // hidden from the user's list (GET /chat/sessions?archived=true lists them)
  // opened for an admin's dashboard socket (no conversation): left out of admin lists and metrics
  @Prop({ default: false }) console!: boolean;
  @Prop({ default: false }) archived!: boolean;
  // deleted by its user: hidden from them everywhere, kept for admins until retention
  @Prop({ default: false }) deleted!: boolean;
  @Prop({ type: Date, default: null }) deleted_at!: Date | null;
  // blind index of the name, for search; the messages' is in session_terms since session 14, and
  // `search_tokens` (no longer written) is what sessions written before carry (docs/protocol.md, "Search")
  @Prop({ type: [String], default: [] }) search_tokens!: string[];
  @Prop({ type: [String], default: [] }) title_tokens!: string[];
  // the key id of the key that made `title_tokens` (BlindIndex.keyId); null on names given before
  // session 43, which key rotation's names pass makes anew as another key's
  @Prop({ type: String, default: null }) title_key!: string | null;
  @Prop({ default: 0 }) feedback_up!: number;
  @Prop({ default: 0 }) feedback_down!: number;
  @Prop({ type: [StoredMessageSchema], default: [] }) messages!: StoredMessage[];
}
export const SessionSchema = SchemaFactory.createForClass(Session);
SessionSchema.index({ user_id: 1, last_activity: -1 });
SessionSchema.index({ is_active: 1, last_activity: 1 });
SessionSchema.index({ start_time: -1 });
// admin list filters and sorts (CONTRACT §3), takeover lease sweeps
SessionSchema.index({ user_id: 1, start_time: -1 });
SessionSchema.index({ last_activity: -1 });
SessionSchema.index({ duration_ms: -1 });
SessionSchema.index({ is_active: 1, start_time: -1 });
SessionSchema.index({ admin_assisted: 1, start_time: -1 });
SessionSchema.index({ help_requested: 1, start_time: -1 });
SessionSchema.index({ end_time: 1 });
SessionSchema.index({ takeover_lease_until: 1 });
// the admin dashboards' own sessions (a few), counted alone and taken from the admin totals
SessionSchema.index({ console: 1 });
SessionSchema.index({ user_id: 1, search_tokens: 1 });

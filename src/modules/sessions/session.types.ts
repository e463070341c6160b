// Plain objects the sessions repository returns (never mongoose documents).
import type { Sender, StoredEventType } from '../../protocol/frames';

export type { Sender };

export interface MessageRecord {
  id: string;
  seq: number;
  type: StoredEventType;
  sender: Sender;
  client_id?: string;
  content?: string;
  timestamp: Date;
  model_id?: string;
  file_id?: string;
  metadata?: Record<string, unknown>;
  feedback_reason?: string;
}

export interface SessionRecord {
  id: string;
  user_id: string;
  name: string;
  model_id: string;
  is_active: boolean;
  start_time: Date;
  end_time: Date | null;
  duration_ms: number | null;
  // a resumed session's open time (session-rules.ts, OpenTime); absent when never resumed
  resumed_at?: Date;
  open_ms_before?: number;
  open_periods?: Array<{ start: Date; end: Date }>;
  last_activity: Date;
  last_message_at: Date | null;
  message_count: number;
  seq: number;
  // the user's unanswered question (its seq), null when none; undefined when not known (a document
  // older than the field): see session-rules.ts openTurnAfter
  open_turn_seq?: number | null;
  // the newest user turn a reply named (its seq): turns up to it are answered (hasOpenTurn)
  answered_turn_seq?: number | null;
  bytes: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  response_count: number;
  avg_response_ms: number;
  max_response_ms: number;
  help_requested: boolean;
  help_requested_at: Date | null;
  // a help request no admin has answered yet (help_requested stays true for good)
  help_pending?: boolean;
  admin_assisted: boolean;
  assisting_admin_id: string | null;
  assisting_admin_name: string | null;
  takeover_started_at?: Date | null;
  takeover_lease_until?: Date | null;
  provider_state: Record<string, unknown>;
  feedback_up?: number;
  feedback_down?: number;
  archived?: boolean;
  // named by its owner: a model's title does not replace the name
  named_by_user?: boolean;
  deleted?: boolean;
  deleted_at?: Date | null;
}

export type FeedbackRating = 'up' | 'down';

// A user's rating of the takeover that ended last, as stored.
export interface CsatRecord {
  admin_id: string;
  admin_name?: string;
  takeover_start: Date;
  rating: number;
  comment?: string;
  at: Date;
}

// A rating as stored, and the one it replaced for the same takeover (for the counter: a changed
// rating counts once more, the same rating again counts nothing, as a reply's feedback does).
export interface CsatResult extends CsatRecord {
  previous?: number;
}

// One search result: a session, and the message that matched (absent when only the name did).
export interface SearchHit {
  session_id: string;
  session_name: string;
  user_id: string;
  message_id?: string;
  seq?: number;
  sender?: string;
  timestamp?: Date;
  snippet?: string;
}

// A reply rated: the model that wrote it and the rating it had before, if any.
export interface FeedbackResult {
  modelId?: string;
  previous?: FeedbackRating;
}

export interface SessionWithMessages extends SessionRecord {
  messages: MessageRecord[];
}

// What a reply, the record path and the search index read of a session: who owns it, its name, its
// model, who assists it, and its log up to seq. An append guarded on these fields proves a copy of
// them right (docs/protocol.md, "Coalesced writes"); `last_activity` is the last append's time. It
// has no counters, and a stateful vendor's state is read fresh by the reply (ReplyPrompt).
export type SessionHead = Pick<
  SessionRecord,
  'id' | 'user_id' | 'name' | 'model_id' | 'seq' | 'assisting_admin_id' | 'last_activity'
>;

export interface WrittenSession extends SessionHead {
  messages: MessageRecord[];
}

// What a stored message adds to the session's counters in the same atomic write.
export interface AppendEffects {
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  response_ms?: number;
  countsAsMessage?: boolean;
  // a reply: the seq of the user's turn it answers (the head's answered_turn_seq, session-rules.ts)
  answersTurn?: number;
}

export type NewMessage = Omit<MessageRecord, 'seq'>;

// An event to append: its id may be given. Its time is the write's (SessionLog.appendLocked).
export type MessageToAppend = Omit<NewMessage, 'id' | 'timestamp'> & { id?: string };

export interface AppendOptions {
  // the session's owner: another user's session is 'missing' (for messages a user sends)
  owner?: string;
  // return the session as the write left it, messages included, in the same database command
  withSession?: boolean;
  // the text the session takes its name from if it still has the default one (docs/protocol.md,
  // "One record path", step 4): named by the same command when this instance knows the session is
  // unnamed; the result's `named` says whether it was
  nameFrom?: string;
  // stored only while the session mirrors this takeover (its admin and start; null: no takeover),
  // else SESSION_LOCKED: an admin's message, admin_join (null), admin_leave (docs/protocol.md,
  // "Takeover handoff")
  takeover?: Pick<TakeoverMirror, 'adminId' | 'startedAt'> | null;
  // admin_join sets the session's mirror of the takeover and admin_leave clears it (and stores the
  // takeover's record), in the append's own write; neither is refused for the session's size
  mirror?: { start: TakeoverMirror } | { end: TakeoverMirror; at: Date };
  // a rule the log this append extends must meet, checked under the session lock on that very log
  // (re-checked when the append's compare-and-set finds the log moved); it throws to refuse the
  // append, and nothing is stored (an edit of the user's last message: docs/protocol.md, "Versions").
  // A refusal on the copy this instance holds is asked again on the store's log (SessionLog.checked)
  precondition?: (log: MessageRecord[]) => void | Promise<void>;
  // a reply to the user's turn stored at this seq: stored only while that turn is unanswered (the
  // head's answered_turn_seq below it), else TurnAnswered and nothing is stored. Checked by the
  // append's own write, under the session lock every reply's append holds (docs/protocol.md, "Every
  // acked turn ends", the reply lease)
  unanswered?: number;
}

// The turn an append was to answer has its reply already (AppendOptions.unanswered): another
// instance answered it while this one's reply was cut off from the lease (a paused process)
export class TurnAnswered extends Error {
  constructor(readonly turnSeq: number) {
    super(`turn ${turnSeq} is answered already`);
  }
}

// What the repository's append returns of the written document when the service holds no copy of
// it: nothing, or all of it (with a copy, the head comes back made from the copy: `held`).
export type AppendReturning = 'nothing' | 'session';

export type AppendResult =
  | {
      status: 'stored';
      message: MessageRecord;
      session?: SessionWithMessages;
      head?: SessionHead;
      // the name this write gave the session
      named?: string;
    }
  | { status: 'duplicate'; message: MessageRecord }
  // the session as the refused write found it: its seq, and its last activity when the write's time
  // was before it
  | { status: 'conflict'; currentSeq: number; lastActivity?: Date }
  // the append was to name the session, which has a name already: nothing was stored
  | { status: 'named' }
  // the append was to answer a turn that has its reply already (AppendOptions.unanswered)
  | { status: 'answered' }
  // an admin's message, and that admin's takeover is not the one mirrored on the session: nothing
  // was stored
  | { status: 'unassisted' }
  | { status: 'full' }
  | { status: 'missing' };

// Help state of a session, as the takeover module reads it.
export interface AssistanceState {
  session_id: string;
  user_id: string;
  seq: number;
  // ended sessions and admins' console sessions are not taken over (docs/protocol.md, "Takeover handoff")
  is_active: boolean;
  console: boolean;
  help_pending: boolean;
  help_requested_at: Date | null;
  // the client_id of the last help request whose steps were taken (a resend of it is no repeat)
  help_client_id: string | null;
  // the takeover the session mirrors, if any
  takeover: TakeoverMirror | null;
}

// A help request as stored in the log, for the session's help fields (HelpService).
export interface HelpRequestMark {
  seq: number;
  clientId?: string;
  at: Date;
}

// What a help request's mark found (docs/protocol.md, "Help requests"). `taken`: this call took the
// request's steps (false for a resend of one already taken); `alert`: it started the wait for an
// admin, so the admins are to be alerted (once per request, whoever resends it); `outcome`: what the
// user is answered: notified (admins were, or are being, told), assisted (an admin is there), ended.
export interface HelpMark {
  taken: boolean;
  alert: boolean;
  outcome: 'notified' | 'assisted' | 'ended';
}

// A help request answered while a takeover was mirrored, waiting now that the takeover lapsed.
export interface HelpAfterLapse {
  userId: string;
  seq: number;
}

// A takeover as the session document mirrors it.
export interface TakeoverMirror {
  sessionId: string;
  adminId: string;
  adminName: string;
  startedAt: Date;
}

// A deleted session being purged, as what its dependents remove reads it (SessionRemoval.remove).
export interface PurgedSession {
  id: string;
  userId: string;
  // vendor-side state by model id (Dify's conversation_id), as setProviderState kept it
  providerStates: Map<string, Record<string, unknown>>;
}

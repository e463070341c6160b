// Pure rules about sessions, kept apart so they can be property-tested.
import { createHash } from 'node:crypto';
import { displayNameProblem, sliceWhole, withoutControls } from '../../common/display-text';
import { linkWords, withoutEmphasis } from '../../common/markdown-text';

const NAME_MAX_CHARS = 48;
const NAME_MAX_WORDS = 7;
export const NAME_INPUT_CHARS = NAME_MAX_CHARS * 20;
export const DEFAULT_SESSION_NAME = 'New chat';
// BSON overhead per stored message beyond its content (field names, ids, dates)
const MESSAGE_OVERHEAD_BYTES = 256;

// A session is restored on reconnect when it is still active and was last used within the timeout.
export function isRestorable(
  session: { is_active: boolean; last_activity: Date },
  now: Date,
  reconnectTimeoutMs: number,
): boolean {
  return session.is_active && now.getTime() - session.last_activity.getTime() <= reconnectTimeoutMs;
}

// How often an instance keeps the sessions with sockets there from looking idle (docs/protocol.md,
// "Idle sessions"): at each sweep, and more often when the reconnect timeout asks for it. It was the
// sweep interval alone, and with RECONNECT_TIMEOUT 2 s and SESSION_SWEEP_INTERVAL 3 s a session
// went 3 s untouched: another instance's sweep ended it while its user was connected (timers audit).
// At most a quarter of the timeout, so that a session is never older than half of it (needsTouch).
export function keepAliveMs(settings: { sweepIntervalMs: number; reconnectTimeoutMs: number }): number {
  return Math.min(settings.sweepIntervalMs, settings.reconnectTimeoutMs / 4);
}

// Whether the keep-alive must touch a session with live sockets (last_activity = now) so that it
// never looks idle to any instance's sweep: not when it was written (a turn, a touch) within the last
// keep-alive period, as long as that keeps it used within half the reconnect timeout at all times
// (written within `skip`, touched at the next keep-alive at the latest: skip + period ≤ timeout / 2);
// otherwise at every keep-alive. `lastWrite` is unknown (undefined) for a session this instance has
// not written. `periodMs` is keepAliveMs (at most a quarter of the timeout: skip is the period).
export function needsTouch(
  lastWrite: number | undefined,
  now: number,
  periodMs: number,
  reconnectTimeoutMs: number,
): boolean {
  const skip = Math.max(0, Math.min(periodMs, reconnectTimeoutMs / 2 - periodMs));
  return lastWrite === undefined || now - lastWrite >= skip;
}

// A resumed session's open time (docs/protocol.md, "Resumed sessions"): `resumed_at` is when its
// current (or last) open period began, `open_ms_before` the open time of every period before it, and
// `open_periods` the last MAX_OPEN_PERIODS of those periods, for the admin metrics' concurrency. A
// session never resumed (and one written before these fields) has none of them: one period, from
// start_time. Until the metrics audit of session 42 a resume kept start_time as the only start: the
// resumed session was open, for its duration_ms and for the concurrency, through the time it was
// closed (3 of 3).
export interface OpenTime {
  start_time: Date;
  resumed_at?: Date | null;
  open_ms_before?: number | null;
  open_periods?: OpenPeriod[] | null;
}
export interface OpenPeriod {
  start: Date;
  end: Date;
}
// Older periods are folded into open_ms_before alone: a session resumed 10,000 times keeps a bounded
// document, and the metrics' concurrency counts it closed over its folded periods.
export const MAX_OPEN_PERIODS = 20;

// When the current (or last) open period began
export function openedAt(session: OpenTime): Date {
  return new Date(session.resumed_at ?? session.start_time);
}

// The session's total open time, its last period ending at `end`.
export function openMsUntil(session: OpenTime, end: Date): number {
  return (session.open_ms_before ?? 0) + Math.max(0, end.getTime() - openedAt(session).getTime());
}

// What a resume writes: the period that ended at `end` joins the earlier ones (the oldest folded
// past MAX_OPEN_PERIODS), and a new one begins at `now`.
export function reopened(
  session: OpenTime,
  end: Date,
  now: Date,
): { resumed_at: Date; open_ms_before: number; open_periods: OpenPeriod[] } {
  const last = {
    start: openedAt(session),
    end: new Date(Math.max(end.getTime(), openedAt(session).getTime())),
  };
  return {
    resumed_at: now,
    open_ms_before: openMsUntil(session, end),
    open_periods: [...(session.open_periods ?? []), last].slice(-MAX_OPEN_PERIODS),
  };
}

// A session's duration as of `now`: the stored one once it ended, its open time so far while it is
// active (the admin list and GET /chat/sessions/:id both report this).
export function durationAsOf(
  session: OpenTime & { is_active: boolean; duration_ms: number | null },
  now: Date,
): number | null {
  if (session.duration_ms !== null && session.duration_ms !== undefined) return session.duration_ms;
  return session.is_active ? openMsUntil(session, now) : null;
}

// What a stored event does to the session's newest open turn (docs/protocol.md, "Every acked turn
// ends"): a user's question opens one (its seq), an admin's message or a reply that names no turn (one
// stored before replies named theirs) answers every turn before it (null), any other event leaves it
// as it was (undefined). A bare file upload asks nothing; a caption does. A reply that names its turn
// (`answers`, the turn's seq) moves `answered_turn_seq` instead (turnHeadAfter): the turns after the
// one it answers stay open (a fast client's m2 and m3, when m1's reply is stored).
export function openTurnAfter(
  message: { type: string; sender: string; content?: string },
  seq: number,
  answers?: number,
) {
  if (message.type === 'ai_response') return answers === undefined ? null : undefined;
  if (message.type === 'user_message' && message.sender !== 'user') return null;
  if (message.sender !== 'user') return undefined;
  if (message.type === 'user_message' || message.type === 'voice_message') return seq;
  if (message.type === 'file_upload' && message.content) return seq;
  return undefined;
}

// The session head's turn fields: the newest open user turn (`open_turn_seq`) and the newest turn a
// reply named (`answered_turn_seq`, only ever raised: a reply answers its turn and every turn before
// it). Some acked turn is still without its reply exactly when the first is past the second.
export interface TurnHead {
  open_turn_seq?: number | null;
  answered_turn_seq?: number | null;
}

export function hasOpenTurn(head: TurnHead): boolean {
  const open = head.open_turn_seq;
  return open !== null && open !== undefined && open > (head.answered_turn_seq ?? 0);
}

// The head after one more stored event (the repository's append writes the same: `$set` of
// open_turn_seq, `$max` of answered_turn_seq).
export function turnHeadAfter(
  head: TurnHead,
  message: { type: string; sender: string; content?: string },
  seq: number,
  answers?: number,
): TurnHead {
  const open = openTurnAfter(message, seq, answers);
  return {
    open_turn_seq: open === undefined ? (head.open_turn_seq ?? null) : open,
    answered_turn_seq:
      answers === undefined
        ? (head.answered_turn_seq ?? null)
        : Math.max(head.answered_turn_seq ?? 0, answers),
  };
}

// An instant name from the first message: its first words, without markdown syntax or line breaks
// (every character of the words themselves is kept).
// Only the first NAME_INPUT_CHARS characters are read once code blocks are gone (a name holds at
// most NAME_MAX_CHARS of them): the emphasis and link patterns are quadratic in their input, and a
// message of 4,096 unpaired marks cost 6 ms of the event loop, a 30,000-character one 0.3 s (at this
// bound, ~0.4 ms; a bold first paragraph up to it still loses its marks).
export function nameFromFirstMessage(content: string): string {
  // control and bidirectional control characters out: the name follows a title's rule (a name
  // PATCH would take: displayNameProblem). Until the text-limits audit of session 41 a first message
  // `pay\u202Egnp.exe please` named the session so that it read reversed, and one of zero-width
  // spaces named it with nothing visible.
  const text = sliceWhole(content.replace(/```[\s\S]*?```/g, ' ').trimStart(), NAME_INPUT_CHARS);
  const words = withoutEmphasis(
    // headings, quotes and list marks at the start of a line; links keep their text
    linkWords(text.replace(/^[ \t]*(?:#{1,6}|>+|[-*+]|\d+\.)[ \t]+/gm, '')),
  )
    .split(/\s+/)
    .map(withoutControls)
    .filter((word) => word.length > 0);
  // nothing but markdown marks: no name to take
  if (!words.some((word) => /[^#*_`>~[\]()|]/u.test(word))) return DEFAULT_SESSION_NAME;
  let name = '';
  for (const word of words.slice(0, NAME_MAX_WORDS)) {
    const next = name ? `${name} ${word}` : word;
    if ([...next].length > NAME_MAX_CHARS) break;
    name = next;
  }
  if (!name) name = [...words[0]].slice(0, NAME_MAX_CHARS - 1).join('');
  const truncated = name.length < words.join(' ').length;
  const named = truncated ? `${name}…` : name;
  // nothing visible (zero-width characters only): the default name
  return displayNameProblem(named) === undefined ? named : DEFAULT_SESSION_NAME;
}

// The bound every append is held to, a reply's included: the store's limit of one document is
// 16 MiB, and 1 MiB of it is left to the session's other fields and to what the per-message estimate
// misses (MAX_SESSION_BYTES is at most 14 MiB). docs/protocol.md, "Every acked turn ends".
export const STORE_SESSION_BYTES = 15 * 1024 * 1024;

// MAX_SESSION_BYTES bounds what a user or an admin sends: refused SESSION_FULL before its ack, nothing
// acked is lost. A reply (and a system event) answers a turn acked before: held to STORE_SESSION_BYTES
// only, it is always stored (cut to fit there: fittedText). Until the library audit the reply of a
// message that fit was refused SESSION_FULL after streaming whole, and the acked turn never answered.
// A regenerated reply too: the regenerate is held to MAX_SESSION_BYTES before the model is asked
// (SessionsService.atSizeBound), so regenerating at will stops at the bound; until then its reply was
// held to it at its store write, refused once streamed whole (docs/protocol.md, "Every acked turn ends").
export function boundedBySessionSize(message: { sender: string }): boolean {
  return message.sender === 'user' || message.sender === 'admin';
}

// The longest start of `text` (never half a surrogate pair) whose stored size (`sizeOf`, monotone in
// the length) is at most `room`; undefined when not even the empty text fits.
export function fittedText(text: string, room: number, sizeOf: (text: string) => number): string | undefined {
  if (sizeOf('') > room) return undefined;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (sizeOf(sliceWhole(text, middle)) <= room) low = middle;
    else high = middle - 1;
  }
  return sliceWhole(text, low);
}

// What a stored message counts against the session's byte bound (content as stored, i.e. encrypted).
export function storedSize(
  message: { metadata?: Record<string, unknown> },
  storedContent: string | undefined,
): number {
  return (
    MESSAGE_OVERHEAD_BYTES + (storedContent?.length ?? 0) + JSON.stringify(message.metadata ?? {}).length
  );
}

// Only messages a client sent are deduplicated; replies echo the client_id of what caused them.
// And so is the system's answer to a help request, the one system message a client_id causes: a
// resend of the request answers it again without storing it twice (docs/protocol.md, "Help requests").
// An admin's message is its admin's (`metadata.admin_key`, takeover.service.ts): every admin sends as
// `admin`, and two admins taking one session in turn, each counting client_ids from 1, had the second
// one's message acked as the first one's and never stored. One stored before the key came has none.
// A takeover's admin_join and admin_leave carry the client_id of the admin's frame that caused them
// but are no resend's copy here: each is stored whenever the session's takeover mirror lets it, the
// mirror changing in the same write, and never taken for a copy of another event (a duplicate would
// leave the mirror as it was). A resent one is answered before it claims or releases
// (TakeoverService, takeoverEvent).
export function dedupKey(message: {
  type?: string;
  client_id?: string;
  sender: string;
  metadata?: Record<string, unknown>;
}): string | undefined {
  if (!message.client_id || !isDeduplicated(message.sender)) return undefined;
  if (message.type === 'admin_join' || message.type === 'admin_leave') return undefined;
  const admin = message.sender === 'admin' ? message.metadata?.admin_key : undefined;
  return typeof admin === 'string'
    ? `admin:${admin}:${message.client_id}`
    : `${message.sender}:${message.client_id}`;
}

// The key an admin's messages carry: the admin's id, hashed (the user's devices see it)
export function adminKeyOf(adminId: string): string {
  return createHash('sha256').update(adminId).digest('base64url').slice(0, 16);
}

function isDeduplicated(sender: string): boolean {
  return sender === 'user' || sender === 'admin' || sender === 'system';
}

// Where a page of a user's session list ends (GET /chat/sessions?before=): the last session's
// last_activity (ms) and id, the list's order, as text "<ms>.<id>". Opaque to clients.
export interface SessionCursor {
  lastActivity: Date;
  id: string;
}

export const SESSION_CURSOR = /^(\d{1,15})\.([0-9A-Za-z-]{1,64})$/;

export function sessionCursor(session: { id: string; last_activity: Date }): string {
  return `${session.last_activity.getTime()}.${session.id}`;
}

export function parseSessionCursor(text: string): SessionCursor | undefined {
  const match = SESSION_CURSOR.exec(text);
  return match ? { lastActivity: new Date(Number(match[1])), id: match[2] } : undefined;
}

// A help request waits for an admin: asked and not answered, and no takeover shows (an admin
// assisting answers it at once, before the join's bookkeeping clears help_pending a moment later).
export function helpWaiting(session: {
  help_pending?: boolean;
  assisting_admin_id?: string | null;
}): boolean {
  return session.help_pending === true && session.assisting_admin_id == null;
}

import type { Model } from 'mongoose';
import type { BlindIndex } from '../../common/crypto/blind-index';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { withEncryptedFileName } from '../../common/crypto/file-names';
import type { Session, StoredMessage } from './schemas/session.schema';
import type { SessionBatches } from './session-batches';
import { decrypt, type SessionDocument, WITHOUT_INDEX, withMessages } from './session-documents';
import { titleIndex } from './session-updates';
import {
  boundedBySessionSize,
  dedupKey,
  DEFAULT_SESSION_NAME,
  fittedText,
  openTurnAfter,
  STORE_SESSION_BYTES,
  storedSize,
} from './session-rules';
import type {
  AppendEffects,
  AppendOptions,
  AppendResult,
  AppendReturning,
  NewMessage,
  SessionHead,
  SessionWithMessages,
} from './session.types';

// what an append is told beside its message (SessionsRepository.append)
export type AppendWriteOptions = Pick<AppendOptions, 'owner' | 'takeover' | 'mirror' | 'unanswered'> & {
  returning?: AppendReturning;
  // set it in the same write, on condition the session still has the default name
  name?: string;
  held?: SessionHead;
  // the stamp is at the skew bound (stampAfter): the session's last activity, further ahead, is
  // written over instead of guarding the write
  overAhead?: boolean;
};

// The guarded append to a session's log, and the outcome of one that was not stored.
export class SessionAppender {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly batches: SessionBatches,
    private readonly cipher: ContentCipher,
    private readonly index: BlindIndex,
  ) {}

  // Compare-and-set on `seq`: the message gets seq+1 only if nobody else stored one meanwhile, and
  // only once per client_id. Counters move in the same write, so a stored reply and its stats agree.
  // What comes back of the session (docs/protocol.md, "Coalesced writes"):
  // - `held`, the head as this instance holds it at expectedSeq: the write is also guarded on the
  //   fields a reply relies on (owner, model, assisting admin, name), so a stored append proves the
  //   copy right and the head is the copy's, at the new seq and time (and name, if it gave one). It
  //   goes in a shared bulk. A guard
  //   that fails (a write elsewhere that moved no seq) is explained as a conflict at expectedSeq;
  // - `returning: 'session'`: the document as written, in one findAndModify (the log is not held).
  async append(
    sessionId: string,
    expectedSeq: number,
    message: NewMessage,
    maxBytes: number,
    effects: AppendEffects = {},
    options: AppendWriteOptions = {},
  ): Promise<AppendResult> {
    const result = await this.write(sessionId, expectedSeq, message, maxBytes, effects, options);
    if (result.status !== 'full' || boundedBySessionSize(message) || options.mirror) return result;
    // a reply past the store's bound: what fits of it, flagged truncated (docs/protocol.md, "Every
    // acked turn ends"); the devices were shown it whole
    const fitted = await this.fitted(sessionId, message);
    return fitted ? this.write(sessionId, expectedSeq, fitted, maxBytes, effects, options) : result;
  }

  // The message cut to what the session's room under STORE_SESSION_BYTES holds, if anything does.
  private async fitted(sessionId: string, message: NewMessage): Promise<NewMessage | undefined> {
    const found = await this.sessions.findOne({ _id: sessionId }, { bytes: 1 }).lean<{ bytes: number }>();
    if (!found) return undefined;
    const metadata = withEncryptedFileName({ ...message.metadata, truncated: true }, this.cipher);
    const content = fittedText(message.content ?? '', STORE_SESSION_BYTES - found.bytes, (text) =>
      storedSize({ metadata }, this.cipher.encrypt(text)),
    );
    if (content === undefined) return undefined;
    return { ...message, content, metadata: { ...message.metadata, truncated: true } };
  }

  // One guarded write of the append (append).
  private async write(
    sessionId: string,
    expectedSeq: number,
    message: NewMessage,
    maxBytes: number,
    effects: AppendEffects,
    options: AppendWriteOptions,
  ): Promise<AppendResult> {
    const content = message.content === undefined ? undefined : this.cipher.encrypt(message.content);
    // a file's name is encrypted like content (docs/protocol.md, "Uploads and files")
    const metadata = withEncryptedFileName(message.metadata, this.cipher);
    const size = storedSize({ metadata }, content);
    const seq = expectedSeq + 1;
    const dedup = dedupKey(message);
    // the schema's fields, named one by one: the append goes to the driver without mongoose's casting
    const stored = stripUndefined<StoredMessage>({
      id: message.id,
      seq,
      type: message.type,
      sender: message.sender,
      client_id: message.client_id,
      dedup,
      content,
      timestamp: message.timestamp,
      model_id: message.model_id,
      file_id: message.file_id,
      metadata,
    });
    // a takeover's join and leave are stored whatever the session's size: the mirror goes with them;
    // a reply or a system event only within the store's bound (boundedBySessionSize)
    const bound = options.mirror
      ? Number.MAX_SAFE_INTEGER
      : boundedBySessionSize(message)
        ? maxBytes
        : STORE_SESSION_BYTES;
    const filter: Record<string, unknown> = {
      _id: sessionId,
      seq: expectedSeq,
      bytes: { $lte: bound - size },
    };
    // stamped no earlier than the session's last activity (SessionLog.appendLocked): activity only
    // moves up, and seq order is time order; a later one is explained as a conflict at expectedSeq.
    // One further ahead than a clock may be (overAhead) is written over.
    if (!options.overAhead) filter.last_activity = { $lte: message.timestamp };
    // a deleted session takes nothing more, whoever writes (a reply queued when it was deleted, on any
    // instance, included), in the same write, under the session lock the delete's write holds too;
    // only a takeover's end still closes its record there (docs/protocol.md, "Session library";
    // top-level `$ne: true`: store conformance suite)
    if (!endsTakeover(options)) filter.deleted = { $ne: true };
    const held = options.held;
    if (held) {
      // equality on each (null matches null or a missing field alike: store conformance suite)
      filter.user_id = held.user_id;
      filter.model_id = held.model_id;
      filter.assisting_admin_id = held.assisting_admin_id ?? null;
      filter.name = held.name;
    }
    // the owner's, whatever the copy says (another user's message finds no session: 'missing')
    if (options.owner !== undefined) filter.user_id = options.owner;
    // only within this takeover (an admin's message, admin_leave) or outside any (admin_join), as the
    // session mirrors it; the mirror changes only with such appends, under the session lock this one
    // holds (equality on a string and a date, or null: store conformance suite)
    if (options.takeover === null) filter.assisting_admin_id = null;
    else if (options.takeover) {
      filter.assisting_admin_id = options.takeover.adminId;
      filter.takeover_started_at = options.takeover.startedAt;
    }
    // admin_join only into a live session: one that ended while it was being claimed is not taken
    // over ('missing'; docs/protocol.md, "Takeover handoff")
    if (options.mirror && 'start' in options.mirror) filter.is_active = true;
    // a name given meanwhile (a rename on another instance) is never overwritten: the filter fails
    // and the failure is explained as 'named'
    if (options.name !== undefined) filter.name = DEFAULT_SESSION_NAME;
    // a reply to a turn answered meanwhile (on another instance, while this one was paused past its
    // reply lease) is not stored: answered_turn_seq below the turn, null or missing (an $or of null
    // and $lt: store conformance suite). Only appends move answered_turn_seq, under the session lock
    // this one holds, so the filter reads what the write extends
    if (options.unanswered !== undefined)
      filter.$or = [{ answered_turn_seq: null }, { answered_turn_seq: { $lt: options.unanswered } }];
    // MongoDB's guard against a second copy; on FerretDB it matches anyway, and the check that holds
    // there is SessionLog.sentBefore, under the session lock
    if (dedup) filter['messages.dedup'] = { $ne: dedup };
    const increments: Record<string, number> = { bytes: size };
    if (effects.countsAsMessage !== false) increments.message_count = 1;
    if (effects.usage) {
      increments.prompt_tokens = effects.usage.prompt_tokens;
      increments.completion_tokens = effects.usage.completion_tokens;
      increments.total_tokens = effects.usage.total_tokens;
    }
    const openTurn = openTurnAfter(message, seq, effects.answersTurn);
    const mirror = options.mirror;
    const update: Record<string, unknown> = {
      $set: {
        seq,
        last_activity: message.timestamp,
        ...(effects.countsAsMessage !== false ? { last_message_at: message.timestamp } : {}),
        ...(openTurn !== undefined ? { open_turn_seq: openTurn } : {}),
        ...(options.name !== undefined
          ? { name: options.name, ...titleIndex(this.index, options.name) }
          : {}),
        ...(mirror && 'start' in mirror
          ? {
              admin_assisted: true,
              assisting_admin_id: mirror.start.adminId,
              assisting_admin_name: mirror.start.adminName,
              takeover_started_at: mirror.start.startedAt,
            }
          : {}),
        ...(mirror && 'end' in mirror
          ? { assisting_admin_id: null, takeover_started_at: null, takeover_lease_until: null }
          : {}),
      },
      $inc: increments,
      $push: {
        messages: stored,
        // the takeover's record stays on the session (admin_assisted and the admin's name stay too)
        ...(mirror && 'end' in mirror
          ? {
              takeovers: {
                admin_id: mirror.end.adminId,
                admin_name: mirror.end.adminName,
                start: mirror.end.startedAt,
                end: mirror.at,
              },
            }
          : {}),
      },
    };
    const maxima: Record<string, number> = {};
    if (effects.response_ms !== undefined) {
      increments.response_count = 1;
      increments.response_ms_total = effects.response_ms;
      maxima.max_response_ms = effects.response_ms;
    }
    // only ever raised (a missing field takes the value: store conformance suite)
    if (effects.answersTurn !== undefined) maxima.answered_turn_seq = effects.answersTurn;
    if (Object.keys(maxima).length > 0) update.$max = maxima;
    const done = (extra: { head?: SessionHead; session?: SessionWithMessages }): AppendResult => ({
      status: 'stored',
      message: { ...message, seq },
      named: options.name,
      ...extra,
    });
    // The hottest write (two per turn) goes to the driver directly: mongoose's casting of the filter,
    // the update and the reply cost more Node CPU than the rest of the append (bench/README.md).
    if (options.returning === 'session' && !held) {
      const written = (await this.sessions.collection.findOneAndUpdate(filter, update, {
        returnDocument: 'after',
      })) as SessionDocument | null;
      if (written) return done({ session: withMessages(written, this.cipher) });
    } else if (
      await this.batches.plainAppends.load({ sessionId, seq, messageId: message.id, filter, update })
    ) {
      return done(held ? { head: headOf(held, seq, message.timestamp, options.name) } : {});
    }
    return this.explainFailedAppend(sessionId, expectedSeq, dedup, size, bound, options, message.timestamp);
  }

  private async explainFailedAppend(
    sessionId: string,
    expectedSeq: number,
    dedup: string | undefined,
    size: number,
    maxBytes: number,
    options: Pick<AppendOptions, 'owner' | 'takeover' | 'mirror' | 'unanswered'> & { name?: string },
    stamp: Date,
  ): Promise<AppendResult> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>();
    if (
      !found ||
      (options.owner !== undefined && found.user_id !== options.owner) ||
      (found.deleted === true && !endsTakeover(options))
    )
      return { status: 'missing' };
    if (options.mirror && 'start' in options.mirror && !found.is_active) return { status: 'missing' };
    const previous = dedup ? found.messages?.find((stored) => stored.dedup === dedup) : undefined;
    if (previous) return { status: 'duplicate', message: decrypt(previous, this.cipher, sessionId) };
    if (options.unanswered !== undefined && (found.answered_turn_seq ?? 0) >= options.unanswered)
      return { status: 'answered' };
    if (found.bytes > maxBytes - size) return { status: 'full' };
    if (found.seq === expectedSeq && options.name !== undefined && found.name !== DEFAULT_SESSION_NAME)
      return { status: 'named' };
    if (options.takeover !== undefined && !withinTakeover(found, options.takeover))
      return { status: 'unassisted' };
    return {
      status: 'conflict',
      currentSeq: found.seq,
      ...(found.last_activity?.getTime() > stamp.getTime() ? { lastActivity: found.last_activity } : {}),
    };
  }
}

// a takeover's admin_leave, which clears the session's mirror of it and stores its record
function endsTakeover(options: Pick<AppendOptions, 'mirror'>): boolean {
  return options.mirror !== undefined && 'end' in options.mirror;
}

// the head the copy had, after an append (its seq and time, and the name it gave)
function headOf(held: SessionHead, seq: number, at: Date, named?: string): SessionHead {
  const { id, user_id, name, model_id, assisting_admin_id } = held;
  return { id, user_id, name: named ?? name, model_id, seq, assisting_admin_id, last_activity: at };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}

// the session mirrors this very takeover (its admin and its start): an admin's message may be stored
// (null: the session mirrors no takeover)
function withinTakeover(
  found: Pick<SessionDocument, 'assisting_admin_id' | 'takeover_started_at'>,
  takeover: AppendOptions['takeover'],
): boolean {
  if (takeover === null) return !found.assisting_admin_id;
  return (
    found.assisting_admin_id === takeover?.adminId &&
    found.takeover_started_at?.getTime() === takeover.startedAt.getTime()
  );
}

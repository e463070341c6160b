import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import type { Session } from './schemas/session.schema';
import { OWNER, ownedBy, type SessionDocument } from './session-documents';
import type { CsatRecord, CsatResult, FeedbackRating, FeedbackResult } from './session.types';

// What the owner gives back on their session: a rating of a reply, a read receipt of an admin's
// message, a rating of a takeover. Each is written under the session lock its caller holds.
export class SessionFeedback {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly cipher: ContentCipher,
  ) {}

  // A rating on one reply of the owner's session, and the session's counts, in one write; the caller
  // holds the session lock (the index of the message cannot move meanwhile).
  async setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason: string | undefined,
  ): Promise<FeedbackResult | undefined> {
    const found = ownedBy(
      await this.sessions
        .findOne({ _id: sessionId }, { ...OWNER, messages: 1, feedback_up: 1, feedback_down: 1 })
        .lean<SessionDocument>(),
      userId,
    );
    const index = found?.messages?.findIndex((stored) => stored.id === messageId) ?? -1;
    const target = index >= 0 ? found?.messages?.[index] : undefined;
    if (!found || !target || target.type !== 'ai_response') return undefined;
    const value = target.metadata?.feedback;
    const previous = value === 'up' || value === 'down' ? value : undefined;
    const count = (kind: FeedbackRating, now: number | undefined) =>
      Math.max(0, (now ?? 0) - (previous === kind ? 1 : 0) + (rating === kind ? 1 : 0));
    const set: Record<string, unknown> = {
      [`messages.${index}.metadata.feedback`]: rating,
      feedback_up: count('up', found.feedback_up),
      feedback_down: count('down', found.feedback_down),
    };
    const update: Record<string, unknown> = { $set: set };
    if (reason) set[`messages.${index}.feedback_reason`] = this.cipher.encrypt(reason);
    else update.$unset = { [`messages.${index}.feedback_reason`]: '' };
    await this.sessions.updateOne({ _id: sessionId }, update);
    return { modelId: target.model_id, previous };
  }

  // Read receipt: the owner has seen an admin's message (first time only). The caller holds the
  // session lock. The time it was first seen, or undefined when there is no such admin message.
  async markSeen(sessionId: string, userId: string, messageId: string, now: Date): Promise<Date | undefined> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, { ...OWNER, messages: 1 }).lean<SessionDocument>(),
      userId,
    );
    const index = found?.messages?.findIndex((stored) => stored.id === messageId) ?? -1;
    const target = index >= 0 ? found?.messages?.[index] : undefined;
    if (!target || target.sender !== 'admin') return undefined;
    const seen = target.metadata?.seen_at;
    if (typeof seen === 'string') return new Date(seen);
    await this.sessions.updateOne(
      { _id: sessionId },
      { $set: { [`messages.${index}.metadata.seen_at`]: now.toISOString() } },
    );
    return now;
  }

  // The owner rates the takeover that ended last (the caller holds the session lock); a second rating
  // of the same takeover replaces the first. Undefined when no takeover of this session has ended.
  async rateTakeover(
    sessionId: string,
    userId: string,
    rating: number,
    comment: string | undefined,
    now: Date,
  ): Promise<CsatResult | undefined> {
    const found = ownedBy(
      await this.sessions
        .findOne({ _id: sessionId }, { ...OWNER, takeovers: 1, csat: 1 })
        .lean<SessionDocument>(),
      userId,
    );
    const takeover = found?.takeovers?.filter((entry) => entry.end).at(-1);
    if (!found || !takeover) return undefined;
    const start = new Date(takeover.start);
    const record: CsatRecord = {
      admin_id: takeover.admin_id,
      ...(takeover.admin_name ? { admin_name: takeover.admin_name } : {}),
      takeover_start: start,
      rating,
      at: now,
    };
    const stored = { ...record, ...(comment ? { comment: this.cipher.encrypt(comment) } : {}) };
    const same = (entry: { takeover_start: Date }) =>
      new Date(entry.takeover_start).getTime() === start.getTime();
    const previous = (found.csat ?? []).find(same)?.rating;
    const csat = (found.csat ?? []).filter((entry) => !same(entry));
    await this.sessions.updateOne({ _id: sessionId }, { $set: { csat: [...csat, stored] } });
    return { ...record, ...(comment ? { comment } : {}), ...(previous === undefined ? {} : { previous }) };
  }
}

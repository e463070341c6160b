import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Session } from './schemas/session.schema';
import type { AssistanceState, HelpAfterLapse, HelpMark, HelpRequestMark } from './session.types';

// The help and takeover fields of the session document, which the chat path, the session list and
// the admin filters read. Written only by the sessions module, always under the session lock
// (SessionsService): the help fields here, the takeover's mirror with the log's admin_join and
// admin_leave (SessionsRepository.append, `mirror`).
@Injectable()
export class AssistanceRepository {
  constructor(@InjectModel(Session.name) private readonly sessions: Model<Session>) {}

  // system read: any user's session
  async state(sessionId: string): Promise<AssistanceState | null> {
    const found = await this.sessions
      .findOne(
        { _id: sessionId },
        {
          user_id: 1,
          seq: 1,
          is_active: 1,
          console: 1,
          help_pending: 1,
          help_requested_at: 1,
          help_client_id: 1,
          assisting_admin_id: 1,
          assisting_admin_name: 1,
          takeover_started_at: 1,
        },
      )
      .lean<{
        _id: string;
        user_id: string;
        seq: number;
        is_active?: boolean;
        console?: boolean;
        help_pending?: boolean;
        help_requested_at?: Date;
        help_client_id?: string | null;
        assisting_admin_id?: string | null;
        assisting_admin_name?: string | null;
        takeover_started_at?: Date | null;
      }>();
    if (!found) return null;
    return {
      session_id: found._id,
      user_id: found.user_id,
      seq: found.seq ?? 0,
      is_active: found.is_active === true,
      console: found.console === true,
      help_pending: found.help_pending === true,
      help_requested_at: found.help_requested_at ? new Date(found.help_requested_at) : null,
      help_client_id: found.help_client_id ?? null,
      takeover:
        found.assisting_admin_id && found.takeover_started_at
          ? {
              sessionId: found._id,
              adminId: found.assisting_admin_id,
              adminName: found.assisting_admin_name ?? found.assisting_admin_id,
              startedAt: new Date(found.takeover_started_at),
            }
          : null,
    };
  }

  // Marks the owner's session help-requested for the help request stored at `request.seq`, deciding
  // on the session as it is now, under the session lock (docs/protocol.md, "Help requests"):
  // - a request whose steps were taken already (a resend, after its instance died or not) takes none
  //   again: `help_request_seq` names the last one taken;
  // - an admin assists: nothing waits, but the takeover is noted (helpAfterLapse);
  // - otherwise the session waits for an admin (help_pending, only while it is active), and the
  //   clock of the help → join response time starts, unless an earlier request still waits.
  // The guard on help_request_seq (equality, null matching a missing field: store conformance suite)
  // makes the take one caller's even if the lock was lost meanwhile.
  async markHelpRequested(sessionId: string, userId: string, request: HelpRequestMark): Promise<HelpMark> {
    // the owner's, not deleted by them (docs/protocol.md, "Session library"; top-level `$ne: true`:
    // store conformance suite)
    const owned = { _id: sessionId, user_id: userId, deleted: { $ne: true } };
    const found = await this.sessions
      .findOne(owned, {
        is_active: 1,
        help_pending: 1,
        help_request_seq: 1,
        assisting_admin_id: 1,
        takeover_started_at: 1,
      })
      .lean<{
        is_active?: boolean;
        help_pending?: boolean;
        help_request_seq?: number | null;
        assisting_admin_id?: string | null;
        takeover_started_at?: Date | null;
      }>();
    if (!found) return { taken: false, alert: false, outcome: 'ended' };
    const takeover =
      found.assisting_admin_id && found.takeover_started_at ? new Date(found.takeover_started_at) : null;
    const outcome = takeover ? 'assisted' : found.is_active === true ? 'notified' : 'ended';
    const taken = found.help_request_seq ?? null;
    if (taken !== null && taken >= request.seq) return { taken: false, alert: false, outcome };
    const alert = outcome === 'notified' && found.help_pending !== true;
    const result = await this.sessions.updateOne(
      { ...owned, help_request_seq: taken },
      {
        $set: {
          help_requested: true,
          help_request_seq: request.seq,
          help_client_id: request.clientId ?? null,
          help_takeover_started_at: takeover,
          ...(alert ? { help_pending: true, help_requested_at: request.at } : {}),
        },
      },
    );
    return result.matchedCount === 1
      ? { taken: true, alert, outcome }
      : { taken: false, alert: false, outcome };
  }

  // The takeover that started at `startedAt` lapsed: a help request answered while it was mirrored
  // (its admin had gone, the session still named them) waits now, from `at`, if nothing else
  // answers it (the session ended, another request waits, another admin assists already). The
  // request, for its alert; null when there is none or it does not wait.
  async helpAfterLapse(sessionId: string, startedAt: Date, at: Date): Promise<HelpAfterLapse | null> {
    const found = await this.sessions
      .findOne(
        { _id: sessionId, help_takeover_started_at: startedAt },
        { user_id: 1, is_active: 1, help_pending: 1, help_request_seq: 1, assisting_admin_id: 1 },
      )
      .lean<{
        user_id: string;
        is_active?: boolean;
        help_pending?: boolean;
        help_request_seq?: number | null;
        assisting_admin_id?: string | null;
      }>();
    if (!found || typeof found.help_request_seq !== 'number') return null;
    const waits = found.is_active === true && found.help_pending !== true && !found.assisting_admin_id;
    const result = await this.sessions.updateOne(
      { _id: sessionId, help_takeover_started_at: startedAt, help_request_seq: found.help_request_seq },
      {
        $set: {
          help_takeover_started_at: null,
          ...(waits ? { help_pending: true, help_requested_at: at } : {}),
        },
      },
    );
    return waits && result.matchedCount === 1 ? { userId: found.user_id, seq: found.help_request_seq } : null;
  }

  // An admin joined: the pending help request was answered after `responseMs`.
  async answerHelp(sessionId: string, requestedAt: Date, responseMs: number): Promise<void> {
    await this.sessions.updateOne(
      { _id: sessionId, help_pending: true, help_requested_at: requestedAt },
      {
        $set: { help_pending: false },
        $inc: { help_response_count: 1, help_response_ms_total: responseMs },
        $max: { help_response_ms_max: responseMs },
        $push: { help_response_ms: responseMs },
      },
    );
  }
}

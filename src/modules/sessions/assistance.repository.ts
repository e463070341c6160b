import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Session } from './schemas/session.schema';
import type { AssistanceState } from './session.types';

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

  // Marks the owner's session help-requested. `pending` (no admin there yet) starts the clock for
  // the help → join response time, unless an earlier request is still unanswered. ($ne on a scalar
  // field: checked by the store conformance suite.)
  async markHelpRequested(sessionId: string, userId: string, at: Date, pending: boolean): Promise<void> {
    const owned = { _id: sessionId, user_id: userId };
    if (pending) {
      const started = await this.sessions.updateOne(
        { ...owned, help_pending: { $ne: true } },
        { $set: { help_requested: true, help_requested_at: at, help_pending: true } },
      );
      if (started.matchedCount === 1) return;
    }
    await this.sessions.updateOne(owned, { $set: { help_requested: true } });
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

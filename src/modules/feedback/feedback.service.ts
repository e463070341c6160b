import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ClientHub } from '../realtime/client-hub';
import type { FeedbackRating } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';

// Thumbs up/down on an AI reply (issue 15): stored on the message (metadata.feedback, the reason
// encrypted beside it), counted on the session for the admin filter and in /metrics by model.
@Injectable()
export class FeedbackService {
  private readonly logger = new Logger('feedback');

  constructor(
    private readonly sessions: SessionsService,
    private readonly metrics: ChatMetrics,
    private readonly hub: ClientHub,
  ) {}

  async rate(
    userId: string,
    sessionId: string,
    messageId: string,
    rating: FeedbackRating,
    reason?: string,
  ): Promise<{ id: string; rating: FeedbackRating }> {
    const result = await this.sessions.setFeedback(sessionId, userId, messageId, rating, reason?.trim());
    if (!result) throw new DomainException(ErrorCode.NOT_FOUND, 'Reply not found.');
    // a rating changed counts once more; the same rating again counts nothing
    if (result.previous !== rating) this.metrics.feedback.inc({ model: result.modelId ?? 'unknown', rating });
    // never the reason's text in a log line
    this.logger.log({ session_id: sessionId, message_id: messageId, event: 'feedback', rating }, 'feedback');
    this.hub.ephemeral(sessionId, { type: 'feedback', id: messageId, metadata: { feedback: rating } });
    return { id: messageId, rating };
  }

  // CSAT (issue 15): the user's 1-5 rating of the takeover that ended last, stored on the session.
  async rateTakeover(userId: string, sessionId: string, rating: number, comment?: string) {
    const stored = await this.sessions.rateTakeover(sessionId, userId, rating, comment?.trim() || undefined);
    if (!stored) throw new DomainException(ErrorCode.NOT_FOUND, 'No ended assistance to rate.');
    // a changed rating counts once more; the same rating again counts nothing (as rate() above)
    if (stored.previous !== rating) this.metrics.csat.inc({ admin: stored.admin_id, rating: String(rating) });
    this.logger.log({ session_id: sessionId, event: 'csat', admin_id: stored.admin_id, rating }, 'csat');
    return {
      session_id: sessionId,
      admin_id: stored.admin_id,
      admin_name: stored.admin_name ?? null,
      rating,
    };
  }
}

import { Injectable, Logger, Optional } from '@nestjs/common';
import { ChatMetrics } from '../metrics/chat-metrics';
import { RecordService } from '../replies/record.service';
import type { Connection } from '../realtime/connection';
import type { ClientMessageOf } from '../../protocol/frames';
import { AlertsService } from '../notifications/alerts.service';
import { SessionsService } from '../sessions/sessions.service';
import { TakeoverRepository } from './takeover.repository';

export const HELP_NOTIFIED_TEXT =
  'Thanks — a person from our team has been notified and will join this chat shortly.';
export const HELP_ALREADY_HERE_TEXT = 'A person from our team is already in this chat.';

// help_request (CONTRACT §2): stored in the session log with its optional reason, marks the session
// help-requested, answers the user with a stored system message, and alerts the admins.
@Injectable()
export class HelpService {
  private readonly logger = new Logger('help');

  constructor(
    private readonly sessions: SessionsService,
    private readonly repository: TakeoverRepository,
    private readonly records: RecordService,
    private readonly alerts: AlertsService,
    @Optional() private readonly metrics?: ChatMetrics,
  ) {}

  async request(connection: Connection, message: ClientMessageOf<'help_request'>): Promise<void> {
    const { userId } = connection.principal;
    const sessionId = connection.sessionId;
    const reason = message.content?.trim() || undefined;
    const at = new Date();
    // stored only in the user's own session (NOT_FOUND otherwise), which comes back as written
    const {
      message: stored,
      duplicate,
      session,
    } = await this.records.record({
      sessionId,
      origin: connection,
      owner: userId,
      message: {
        type: 'help_request',
        sender: 'user',
        client_id: message.client_id,
        content: reason,
        timestamp: at,
        metadata: { help_requested: true },
      },
      effects: { countsAsMessage: false },
      ackMetadata: { help_requested: true },
    });
    if (duplicate) return;
    this.metrics?.helpRequests.inc();
    // decided on the session as this write left it (a takeover that just started is seen)
    const assisted = Boolean(session?.assisting_admin_id);
    await this.sessions.markHelpRequested(sessionId, userId, at, !assisted);
    this.logger.log(
      { event: 'help_request', user_id: userId, session_id: sessionId, assisted, seq: stored.seq },
      'help requested',
    );
    await this.records.record({
      sessionId,
      message: {
        type: 'system_message',
        sender: 'system',
        client_id: message.client_id,
        content: assisted ? HELP_ALREADY_HERE_TEXT : HELP_NOTIFIED_TEXT,
        timestamp: new Date(),
        metadata: { help: assisted ? 'assisted' : 'notified' },
      },
      effects: { countsAsMessage: false },
    });
    if (!assisted)
      void this.alerts.raise({ type: 'help_request', userId, sessionId, reason, affectedUsers: 1, at });
  }
}

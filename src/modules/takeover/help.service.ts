import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ClientHub } from '../chat/client-hub';
import type { Connection } from '../chat/connection';
import type { ClientEnvelopeDto } from '../chat/dto/client-envelope.dto';
import { storedFrame } from '../chat/frames';
import { AlertsService } from '../notifications/alerts.service';
import { SessionsService } from '../sessions/sessions.service';
import { TakeoverRepository } from './takeover.repository';
import { TakeoverService } from './takeover.service';

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
    private readonly takeover: TakeoverService,
    private readonly hub: ClientHub,
    private readonly alerts: AlertsService,
  ) {}

  async request(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    const { userId } = connection.principal;
    const sessionId = connection.sessionId;
    const session = await this.sessions.getOwned(sessionId, userId);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    const reason = message.content?.trim() || undefined;
    const at = new Date();
    const { message: stored, duplicate } = await this.sessions.append(
      sessionId,
      {
        type: 'help_request',
        sender: 'user',
        client_id: message.client_id,
        content: reason,
        timestamp: at,
        metadata: { help_requested: true },
      },
      { countsAsMessage: false },
    );
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: stored.seq,
      client_id: stored.client_id,
      id: stored.id,
      metadata: { help_requested: true },
    });
    if (duplicate) return;
    this.hub.toSession(sessionId, storedFrame(sessionId, stored), connection);
    const assisted = this.takeover.isAssisted(session);
    await this.sessions.exclusive(sessionId, () =>
      this.repository.markHelpRequested(sessionId, userId, at, !assisted),
    );
    this.logger.log(
      { event: 'help_request', user_id: userId, session_id: sessionId, assisted, seq: stored.seq },
      'help requested',
    );
    const { message: answer } = await this.sessions.append(
      sessionId,
      {
        type: 'system_message',
        sender: 'system',
        client_id: message.client_id,
        content: assisted ? HELP_ALREADY_HERE_TEXT : HELP_NOTIFIED_TEXT,
        timestamp: new Date(),
        metadata: { help: assisted ? 'assisted' : 'notified' },
      },
      { countsAsMessage: false },
    );
    this.hub.toSession(sessionId, storedFrame(sessionId, answer));
    if (!assisted)
      void this.alerts.raise({ type: 'help_request', userId, sessionId, reason, affectedUsers: 1, at });
  }
}

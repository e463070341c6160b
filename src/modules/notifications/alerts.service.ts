import { Injectable, Logger } from '@nestjs/common';
import type { AlertEvent } from './alert.types';

// The one entry point for internal events that admins must hear about (help requests, LLM and
// database failures, abnormal traffic, crashes). raise() never throws and never blocks the caller.
@Injectable()
export class AlertsService {
  private readonly logger = new Logger('alerts');

  raise(event: AlertEvent): Promise<void> {
    this.logger.warn(
      { event: 'alert', type: event.type, user_id: event.userId, session_id: event.sessionId },
      'alert raised',
    );
    return Promise.resolve();
  }
}

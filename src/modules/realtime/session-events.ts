import { Injectable, Logger } from '@nestjs/common';

// What one module tells others about a session without importing them (no module cycles): takeover
// emits, replies listens. In-process; the takeover module relays its events between instances
// over the bus and emits them here on each.
export type SessionEvent =
  // an admin answers from now on: a reply streaming for the session stops
  // `startedAt`: the takeover's start (ms), which its admin_leave names (metadata.started_at)
  | { kind: 'takeover_started'; sessionId: string; epoch?: number; startedAt?: number }
  // emitted on the one instance that ended the takeover: the AI may answer what is left unanswered
  // `leaveLogged`: this takeover's admin_leave is in the log (false: its admin_join never was)
  | { kind: 'takeover_ended'; sessionId: string; leaveLogged: boolean }
  // emitted on every instance when a takeover ended (before takeover_ended where that is emitted)
  | { kind: 'takeover_closed'; sessionId: string; epoch?: number };

@Injectable()
export class SessionEvents {
  private readonly logger = new Logger('events');
  private readonly handlers: Array<(event: SessionEvent) => void | Promise<void>> = [];

  on(handler: (event: SessionEvent) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  emit(event: SessionEvent): void {
    for (const handler of this.handlers) {
      void Promise.resolve()
        .then(() => handler(event))
        .catch((error: unknown) =>
          this.logger.warn(
            { event: 'session_event_failed', kind: event.kind, err: String(error) },
            'handler',
          ),
        );
    }
  }
}

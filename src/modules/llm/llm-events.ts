import { EventEmitter } from 'node:events';
import { Injectable, Logger, Optional } from '@nestjs/common';
import { AlertsService } from '../notifications/alerts.service';

export type LlmFailureKind =
  // one attempt failed and another follows
  | 'retry'
  // every attempt failed before the first token: the user got LLM_UNAVAILABLE
  | 'unavailable'
  // the reply broke after the first token: stored partial, flagged interrupted
  | 'interrupted'
  // too many failures in a row: requests to this model fail fast for a while
  | 'circuit_open'
  | 'transcription_failed'
  | 'speech_failed'
  | 'file_failed';

export interface LlmFailureEvent {
  kind: LlmFailureKind;
  modelId: string;
  vendor: string;
  // a safe description (vendor, status, code): never message text or keys
  error: string;
  userId?: string;
  sessionId?: string;
  // `@ai` in a room: the room billed for the call
  roomId?: string;
  attempt?: number;
  at: Date;
}

// Internal events for LLM failures. Anyone may subscribe (onFailure); failures a user felt are also
// raised as `llm_failure` admin alerts. Retries alone are not: the retry that follows may succeed.
@Injectable()
export class LlmEvents {
  private readonly logger = new Logger('llm');
  private readonly emitter = new EventEmitter();

  constructor(@Optional() private readonly alerts?: AlertsService) {
    this.emitter.setMaxListeners(0);
  }

  onFailure(listener: (event: LlmFailureEvent) => void): () => void {
    this.emitter.on('failure', listener);
    return () => this.emitter.off('failure', listener);
  }

  failure(event: Omit<LlmFailureEvent, 'at'>): void {
    const full: LlmFailureEvent = { ...event, at: new Date() };
    this.logger.warn(
      {
        event: 'llm_failure',
        kind: full.kind,
        model: full.modelId,
        provider: full.vendor,
        err: full.error,
        attempt: full.attempt,
        user_id: full.userId,
        session_id: full.sessionId,
        room_id: full.roomId,
      },
      'llm failure',
    );
    try {
      this.emitter.emit('failure', full);
    } catch (error) {
      this.logger.error({ event: 'llm_failure_listener_failed', err: String(error) }, 'listener failed');
    }
    if (full.kind === 'retry' || !this.alerts) return;
    void this.alerts
      .raise({
        type: 'llm_failure',
        userId: full.userId,
        sessionId: full.sessionId,
        details: `${full.kind}: model ${full.modelId} (${full.vendor}): ${full.error}`,
        at: full.at,
      })
      .catch(() => undefined);
  }
}

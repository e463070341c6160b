import { type BeforeApplicationShutdown, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ClientHub } from '../realtime/client-hub';
import { RecordService } from '../replies/record.service';
import type { Connection } from '../realtime/connection';
import type { ClientMessageOf } from '../../protocol/frames';
import type { AlertEvent } from '../notifications/alert.types';
import { AlertsService } from '../notifications/alerts.service';
import type { HelpMark } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import type { Claim } from './takeover.repository';

export const HELP_NOTIFIED_TEXT =
  'Thanks — a person from our team has been notified and will join this chat shortly.';
export const HELP_ALREADY_HERE_TEXT = 'A person from our team is already in this chat.';
export const HELP_ENDED_TEXT = 'This chat has ended. Start a new chat to ask for a person.';

const ANSWERS: Record<HelpMark['outcome'], string> = {
  notified: HELP_NOTIFIED_TEXT,
  assisted: HELP_ALREADY_HERE_TEXT,
  ended: HELP_ENDED_TEXT,
};

// help_request (CONTRACT §2): stored in the session log with its optional reason, marks the session
// help-requested, answers the user with a stored system message, and alerts the admins. Each step is
// taken once per request, whoever takes it: a resend after the instance that stored the request died
// takes the steps it never took, and no step twice (docs/protocol.md, "Help requests").
@Injectable()
export class HelpService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('help');
  // alerts being raised: delivery is not waited for on the user's socket (its next frames wait
  // behind this one), but a stopping server waits for them to be stored
  private readonly raising = new Set<Promise<unknown>>();

  constructor(
    private readonly sessions: SessionsService,
    private readonly records: RecordService,
    private readonly alerts: AlertsService,
    private readonly hub: ClientHub,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Optional() private readonly metrics?: ChatMetrics,
  ) {}

  async request(connection: Connection, message: ClientMessageOf<'help_request'>): Promise<void> {
    const { userId } = connection.principal;
    const sessionId = connection.sessionId;
    const reason = message.content?.trim() || undefined;
    const at = new Date();
    // A repeat while help waits stores nothing and alerts nobody: it is acked, saying so (each one
    // was stored and raised a held alert, and a digest takes the oldest first, so one user asking
    // again and again held back everyone else's). A resend of the request that waits is no repeat.
    const state = await this.sessions.assistanceState(sessionId);
    if (
      state?.user_id === userId &&
      state.help_pending &&
      (message.client_id === undefined || message.client_id !== state.help_client_id)
    ) {
      this.hub.send(connection, {
        type: 'ack',
        session_id: sessionId,
        client_id: message.client_id,
        metadata: { help_requested: true, already_requested: true },
      });
      return;
    }
    // stored only in the user's own session (NOT_FOUND otherwise); a resend gets the stored copy's ack
    const { message: stored, duplicate } = await this.records.record({
      sessionId,
      origin: connection,
      owner: userId,
      message: {
        type: 'help_request',
        sender: 'user',
        client_id: message.client_id,
        content: reason,
        metadata: { help_requested: true },
      },
      effects: { countsAsMessage: false },
      // acked once the session is marked: a client reading the session after the ack sees the wait
      // (CI read help_pending false right after the ack, the mark still on its way)
      deferAck: true,
    });
    // decided on the session as it is after the write, under its lock: a takeover that started or
    // ended meanwhile is seen. A resend of a request whose steps were taken takes none (taken false).
    const mark = await this.sessions.markHelpRequested(sessionId, userId, {
      seq: stored.seq,
      clientId: stored.client_id,
      at: new Date(stored.timestamp),
    });
    this.records.ack(connection, sessionId, stored, { help_requested: true });
    if (mark.taken) this.metrics?.helpRequests.inc();
    this.logger.log(
      {
        event: 'help_request',
        user_id: userId,
        session_id: sessionId,
        outcome: mark.outcome,
        resend: duplicate,
        taken: mark.taken,
        seq: stored.seq,
      },
      'help requested',
    );
    // the answer is stored once per request (session-rules.ts dedupKey): a resend sends it again
    await this.records.record({
      sessionId,
      message: {
        type: 'system_message',
        sender: 'system',
        client_id: message.client_id,
        content: ANSWERS[mark.outcome],
        metadata: { help: mark.outcome },
      },
      effects: { countsAsMessage: false },
    });
    // raised by the one mark that started the wait: a resend never raises it again
    if (mark.alert)
      this.raise({ type: 'help_request', userId, sessionId, reason: stored.content, affectedUsers: 1, at });
  }

  // A takeover lapsed (its admin's sockets stopped renewing it): a help request answered "already in
  // this chat" while it was mirrored was answered by nobody, so it waits now and the admins are
  // alerted, once, by whichever instance ended the takeover (docs/protocol.md, "Help requests").
  async takeoverLapsed(claim: Pick<Claim, 'sessionId' | 'startedAt'>): Promise<void> {
    const at = new Date();
    const waiting = await this.sessions.helpAfterLapse(claim.sessionId, claim.startedAt, at);
    if (!waiting) return;
    this.logger.log(
      { event: 'help_after_lapse', user_id: waiting.userId, session_id: claim.sessionId, seq: waiting.seq },
      'help request waits: the takeover lapsed',
    );
    const [request] = await this.sessions.storedAfter(claim.sessionId, waiting.seq - 1);
    this.raise({
      type: 'help_request',
      userId: waiting.userId,
      sessionId: claim.sessionId,
      reason: request?.seq === waiting.seq ? request.content : undefined,
      affectedUsers: 1,
      at,
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.raising.size === 0) return;
    await Promise.race([
      Promise.all(this.raising),
      new Promise((resolve) => setTimeout(resolve, this.settings.shutdownGraceMs).unref()),
    ]);
  }

  // AlertsService.raise never throws; it stores the alert, then tries its channels
  private raise(event: AlertEvent): void {
    const raised = this.alerts.raise(event).finally(() => this.raising.delete(raised));
    this.raising.add(raised);
  }
}

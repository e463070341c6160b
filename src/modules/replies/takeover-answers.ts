import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { BUS, type Bus } from '../../infra/bus/bus';
import { SessionEvents } from '../realtime/session-events';
import { SessionsService } from '../sessions/sessions.service';
import { ReplyService } from './reply.service';
import { TurnWatchService } from './turn-watch.service';
import { unansweredUserTurn } from './unanswered-turn';

// The AI's side of a takeover, driven by the takeover module's events: it stops when an admin takes
// over, and when the takeover ends it answers what the user asked that no admin answered (the admin
// went away, or released without a word), which would otherwise wait forever.
@Injectable()
export class TakeoverAnswers implements OnModuleInit {
  private readonly logger = new Logger('replies');

  constructor(
    private readonly events: SessionEvents,
    private readonly replies: ReplyService,
    private readonly sessions: SessionsService,
    private readonly turns: TurnWatchService,
    @Optional() @Inject(BUS) private readonly bus?: Bus,
  ) {}

  onModuleInit(): void {
    this.events.on((event) => {
      if (event.kind === 'takeover_started')
        this.replies.takeoverStarted(event.sessionId, event.epoch, event.startedAt);
      else if (event.kind === 'takeover_closed') this.replies.takeoverClosed(event.sessionId, event.epoch);
      else return this.answerPending(event.sessionId, event.leaveLogged);
    });
    // the takeovers' starts this instance missed while the bus was away: a reply streaming here for a
    // session an admin took over meanwhile stops (docs/protocol.md, "Takeover handoff")
    this.bus?.onResync(() => void this.stopOverAdmins());
  }

  async stopOverAdmins(): Promise<void> {
    for (const sessionId of this.replies.streaming()) {
      const state = await this.sessions.assistanceState(sessionId).catch(() => null);
      if (!state?.takeover) continue;
      this.logger.log({ event: 'reply_fenced_after_resync', session_id: sessionId }, 'reply stopped');
      this.replies.takeoverStarted(sessionId);
    }
  }

  private async answerPending(sessionId: string, leaveLogged: boolean): Promise<void> {
    // a takeover claimed while the session is read fences this answer off (ReplyService)
    const decidedAt = Date.now();
    const session = await this.sessions.getAny(sessionId);
    if (!session?.is_active || session.assisting_admin_id) return;
    const log = await this.sessions.messagesAfter(sessionId, session.user_id, 0);
    const pending = unansweredUserTurn(log);
    if (!pending) return;
    // a turn stored after this takeover's admin_leave was stored unassisted: its own record path
    // asked for its reply, which may be streaming now on any instance. Asking again would answer it
    // twice; it is watched instead, as every acked turn is when its reply may have died
    // (TurnWatchService). A takeover whose admin_join was never logged has no leave of its own: a turn
    // stored meanwhile had its reply cut off by the fence, and is answered now.
    const leave = leaveLogged ? log.findLast((message) => message.type === 'admin_leave') : undefined;
    if (leave && pending.seq > leave.seq) {
      this.turns.watch(sessionId, session.user_id);
      return;
    }
    this.replies.request({
      sessionId,
      userId: session.user_id,
      modelId: session.model_id,
      clientId: pending.client_id,
      turnSeq: pending.seq,
      decidedAt,
    });
  }
}

import { Injectable, type OnModuleInit } from '@nestjs/common';
import { SessionEvents } from '../realtime/session-events';
import { SessionsService } from '../sessions/sessions.service';
import { ReplyService } from './reply.service';
import { unansweredUserTurn } from './unanswered-turn';

// The AI's side of a takeover, driven by the takeover module's events: it stops when an admin takes
// over, and when the takeover ends it answers what the user asked that no admin answered (the admin
// went away, or released without a word), which would otherwise wait forever.
@Injectable()
export class TakeoverAnswers implements OnModuleInit {
  constructor(
    private readonly events: SessionEvents,
    private readonly replies: ReplyService,
    private readonly sessions: SessionsService,
  ) {}

  onModuleInit(): void {
    this.events.on((event) => {
      if (event.kind === 'takeover_started') this.replies.takeoverStarted(event.sessionId, event.epoch);
      else if (event.kind === 'takeover_closed') this.replies.takeoverClosed(event.sessionId, event.epoch);
      else return this.answerPending(event.sessionId);
    });
  }

  private async answerPending(sessionId: string): Promise<void> {
    // a takeover claimed while the session is read fences this answer off (ReplyService)
    const decidedAt = Date.now();
    const session = await this.sessions.getAny(sessionId);
    if (!session?.is_active || session.assisting_admin_id) return;
    const pending = unansweredUserTurn(await this.sessions.messagesAfter(sessionId, session.user_id, 0));
    if (!pending) return;
    this.replies.request({
      sessionId,
      userId: session.user_id,
      modelId: session.model_id,
      clientId: pending.client_id,
      decidedAt,
    });
  }
}

import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { LocalReplyLeases, REPLY_LEASES, type ReplyLeases } from '../../infra/lock/reply-lease';
import { Optional } from '@nestjs/common';
import { hasOpenTurn } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { unansweredUserTurn } from './unanswered-turn';
import { ReplyRecorder } from './reply-recorder';
import { ReplyService } from './reply.service';

// how often watched sessions are checked, and how old an unanswered turn must be before another
// instance may take it over (its own instance sets the reply lease within milliseconds of the ack)
const CHECK_EVERY_MS = 2_000;
const GRACE_MS = 3_000;
// how long a stopping instance waits for the round of checks under way (a store that does not answer
// would hold it for the driver's timeouts)
const STOP_WAIT_MS = 5_000;

// Every acked turn ends (docs/protocol.md, "Every acked turn ends"): when the instance streaming a
// reply dies, its users reconnect elsewhere; the session they resume is watched here until its
// user turns all have an answer. When the session's reply lease has lapsed (no instance answering),
// it is claimed and its newest open turn asked for: every open turn before it is answered first, in
// order (ReplyTurns; before 2026-12-06 only the newest was, and the others never). Unless an admin
// assists: then the turn is the admin's.
@Injectable()
export class TurnWatchService implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('chat');
  // session → its user
  private readonly watched = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  // the round of checks under way
  private checking?: Promise<void>;

  constructor(
    private readonly sessions: SessionsService,
    private readonly replies: ReplyService,
    @Optional() @Inject(REPLY_LEASES) private readonly leases: ReplyLeases = new LocalReplyLeases(),
    @Optional() recorder?: ReplyRecorder,
  ) {
    // a reply dropped for a lost lease leaves its turn open (docs/protocol.md, "Every acked turn ends")
    recorder?.onLeaseLost((sessionId, userId) => this.watch(sessionId, userId));
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.checkAll(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  // the round under way reads the store: over before the store client closes
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.checking) return;
    await Promise.race([this.checking, new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
  }

  watch(sessionId: string, userId: string): void {
    this.watched.set(sessionId, userId);
  }

  get size(): number {
    return this.watched.size;
  }

  checkAll(now = Date.now()): Promise<void> {
    this.checking ??= this.checkEach(now).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkEach(now: number): Promise<void> {
    for (const [sessionId, userId] of [...this.watched]) {
      // stopping: the turns are left to the instance the user comes back to (ReplyDrain)
      if (this.replies.draining) return;
      await this.check(sessionId, userId, now).catch((error: unknown) =>
        this.logger.warn(
          { session_id: sessionId, event: 'turn_check_failed', err: String(error) },
          'turn check',
        ),
      );
    }
  }

  // Answers the session's open turn if nobody is answering it; stops watching once it is answered.
  async check(sessionId: string, userId: string, now = Date.now()): Promise<void> {
    // before the session is read: a takeover from then on fences the answer off (ReplyService)
    const started = Date.now();
    if (this.replies.answering(sessionId)) return;
    const session = await this.sessions.getOwned(sessionId, userId);
    if (!session?.is_active || session.assisting_admin_id || !hasOpenTurn(session)) {
      this.watched.delete(sessionId);
      return;
    }
    const turn = unansweredUserTurn(await this.sessions.messagesAfter(sessionId, userId, 0));
    if (!turn) {
      this.watched.delete(sessionId);
      return;
    }
    if (now - new Date(turn.timestamp).getTime() < GRACE_MS || (await this.leases.held(sessionId))) return;
    if (this.replies.answering(sessionId) || !(await this.leases.claim(sessionId))) return;
    // the instance began to stop meanwhile: the claim is let go at once (a hold's release takes this
    // instance's entry out), not left to lapse, and the turn left (ReplyDrain)
    if (this.replies.draining) return this.leases.hold(sessionId)();
    this.watched.delete(sessionId);
    this.logger.log(
      { session_id: sessionId, user_id: userId, event: 'turn_resumed' },
      'answering an orphaned turn',
    );
    this.replies.request({
      sessionId,
      userId,
      modelId: session.model_id,
      clientId: turn.client_id,
      turnSeq: turn.seq,
      decidedAt: started,
    });
  }
}

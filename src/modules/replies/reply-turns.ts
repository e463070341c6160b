import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { MessageRecord } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import type { ReplyRequest } from './reply-generation';
import type { ReplyHolds } from './reply-holds';
import { storedRegeneration } from './regenerations';
import { unansweredUserTurns } from './unanswered-turn';

// a reply waiting for another instance's reply of the session: how often it tries to take the lease.
// It waits as long as the other holds it, without a bound of its own: a live holder renews only
// while it answers (each reply bounded by LLM_REPLY_TIMEOUT, each store write by its timeout), a dead
// one's lapses within REPLY_LEASE_TTL_MS. Until session 34 it ran after 120 s, beside a reply that
// streamed longer (reply-turns.spec.ts).
export const TURN_POLL_MS = 50;
// sessions whose failed turns this instance remembers, the least recently failed going first
const FAILED_TURNS_KEPT = 1_000;

// Each acked turn its own reply, in turn order, one reply of a session at a time across instances
// (docs/protocol.md, "Every acked turn ends"). Until 2026-12-06 an instance answered its own turns
// only: a turn sent on instance B while A streamed the previous reply streamed beside it, interleaved
// on the user's devices, and the turns whose replies were queued on a dead instance were never
// answered (a black-box chaos audit).
export class ReplyTurns {
  // per session, the turns whose reply failed here and stored nothing: not answered again before a
  // later turn (the user was told to try again; a later reply closes them)
  private readonly failedTurns = new Map<string, Set<number>>();

  constructor(
    private readonly sessions: SessionsService,
    private readonly leases: ReplyLeases,
    private readonly holds: ReplyHolds,
    // the instance is stopping: a wait for another instance's reply ends (the turns it would answer
    // are left: ReplyDrain)
    private readonly stopping: () => boolean = () => false,
  ) {}

  // The replies a request for turn T stands for, in turn order, once no other instance answers the
  // session: every turn before T still open (and not failed here) first, then T; T not at all when
  // it was answered meanwhile. `waitsBefore`: ReplyHolds.waitsEnded when the request was asked for.
  // The log the request carries (its append's) is the session's only while no other instance can
  // have written since: not when this request waited, nor when it was queued behind one of this
  // instance's requests that waited. The other instance answered turns meanwhile, and this
  // instance's last seq (its own writes) does not show that: until the third black-box audit a user
  // writing from two devices on two instances had four of eight turns answered twice (the log
  // carried showed them open; test/e2e/turns.e2e-spec.ts). The store's log is read then.
  async inTurn(
    input: ReplyRequest,
    waitsBefore = this.holds.waitsEnded(input.sessionId),
  ): Promise<ReplyRequest[]> {
    const { sessionId, userId, turnSeq } = input;
    const wait = await this.awaitOthers(sessionId, input.askedHere !== true);
    const waited = wait !== 'free' || this.holds.waitsEnded(sessionId) !== waitsBefore;
    if (input.alternativeOf !== undefined && input.clientId !== undefined) {
      // Redis away past 10 s: a copy of this regenerate sent again to another instance may be
      // running there unseen (it is stored only with its reply), so it waits for Redis like a turn
      // watch's request, and the lease then runs the copies one after the other: the second finds
      // the first's reply (test/e2e/turns-redis-away.e2e-spec.ts)
      if (wait === 'away') return this.inTurn({ ...input, askedHere: false }, -1);
      return this.regeneration(input);
    }
    if (turnSeq === undefined) return [input];
    const current =
      !waited &&
      input.written !== undefined &&
      input.written.seq === this.sessions.lastSeq(sessionId) &&
      (await this.unwrittenElsewhere(sessionId, input.written.seq));
    const log = current ? input.written!.messages : await this.sessions.messagesAfter(sessionId, userId, 0);
    const open = unansweredUserTurns(log).filter((turn) => turn.seq <= turnSeq);
    if (!open.some((turn) => turn.seq === turnSeq)) return [];
    const earlier = this.owed(sessionId, log, open).filter((turn) => turn.seq < turnSeq);
    // Redis away past 10 s, and a turn before this one open: its reply may be streaming on the
    // instance that stored it, and this request would answer it again. This one waits for Redis like
    // a turn watch's, then reads the leases and the store again (docs/protocol.md, "Every acked turn
    // ends", one at a time; test/e2e/turns-redis-away.e2e-spec.ts). Its count of waits (-1) matches
    // none, so it reads the log from the store whatever the wait was
    if (wait === 'away' && earlier.length > 0) return this.inTurn({ ...input, askedHere: false }, -1);
    const turns: ReplyRequest[] = earlier.map((turn) => ({
      sessionId,
      userId,
      modelId: input.modelId,
      clientId: turn.client_id,
      turnSeq: turn.seq,
      decidedAt: input.decidedAt,
    }));
    turns.push(input);
    // the log read here is the prompt's for the first of them (the next ones read theirs again)
    if (!current) turns[0] = { ...turns[0], log };
    return turns;
  }

  // A regenerate is asked for once per client_id, on whichever instance each copy reached: read once
  // no other instance answers the session, the log shows a reply already stored for it (the first
  // copy's, made here or there), and that one stands (docs/protocol.md, "Versions"). Until the races
  // audit a resend after a cut was answered again: 8 of 8 on the other instance.
  private async regeneration(input: ReplyRequest): Promise<ReplyRequest[]> {
    const log = await this.sessions.messagesAfter(input.sessionId, input.userId, 0);
    return storedRegeneration(log, input.clientId) ? [] : [{ ...input, log }];
  }

  // Whether the store's seq is still the one the request's append wrote. With other instances (a
  // shared lease) one may have stored a reply since without this request waiting for it: its reply
  // stored and its lease let go between this append and the lease check. Until the second chaos
  // audit of session 33 such a turn was answered again from the append's log, where it was open
  // (every a of "b, then a on the other instance, then c here while a's reply streams": 6 of 6
  // rounds). One small read per turn with other instances, none with one.
  private async unwrittenElsewhere(sessionId: string, seq: number): Promise<boolean> {
    if (!this.leases.shared) return true;
    return (await this.sessions.storedSeq(sessionId).catch(() => undefined)) === seq;
  }

  // the log holds a turn to answer before a new one: no early start for that one (EarlyReplies)
  orphans(sessionId: string, messages: MessageRecord[]): boolean {
    return this.owed(sessionId, messages, unansweredUserTurns(messages)).length > 0;
  }

  // The open turns the model still owes an answer: not one whose reply failed here, and not one from
  // before the last takeover event: a turn left unanswered by an admin is answered when the takeover
  // ends only while it is the newest (TakeoverAnswers); once the user wrote again, the new turn is.
  private owed(sessionId: string, log: MessageRecord[], open: MessageRecord[]): MessageRecord[] {
    const failed = this.failedTurns.get(sessionId);
    const takeover =
      log.findLast((message) => message.type === 'admin_join' || message.type === 'admin_leave')?.seq ?? 0;
    return open.filter((turn) => turn.seq > takeover && !failed?.has(turn.seq));
  }

  // a reply failed here and stored nothing
  failed(sessionId: string, turnSeq: number): void {
    const turns = this.failedTurns.get(sessionId) ?? new Set<number>();
    this.failedTurns.delete(sessionId);
    this.failedTurns.set(sessionId, turns.add(turnSeq));
    const oldest = this.failedTurns.keys().next().value;
    if (this.failedTurns.size > FAILED_TURNS_KEPT && oldest !== undefined) this.failedTurns.delete(oldest);
  }

  // Waits while another instance holds the session's reply lease, not holding it meanwhile (two
  // instances each waiting for the other would wait for ever), then takes it with the atomic claim:
  // `waited` when it waited (the session may have changed meanwhile), `away` when it goes on because
  // Redis has been away past 10 s (only when not `waitForRedis`).
  private async awaitOthers(sessionId: string, waitForRedis: boolean): Promise<'free' | 'waited' | 'away'> {
    const goOn = () => (this.leases.away ? 'away' : 'waited');
    if (!(await this.leases.answeringElsewhere(sessionId, waitForRedis)))
      return this.leases.away ? 'away' : 'free';
    this.holds.pause(sessionId);
    try {
      while (!this.stopping() && !(await this.leases.claim(sessionId))) {
        // Redis away, or nobody but this instance: go on
        if (!(await this.leases.answeringElsewhere(sessionId, waitForRedis))) return goOn();
        await new Promise((resolve) => setTimeout(resolve, TURN_POLL_MS));
      }
    } finally {
      this.holds.resume(sessionId);
    }
    return 'waited';
  }
}

import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { MessageRecord } from '../sessions/session.types';
import { TURN_POLL_MS } from './reply-turns';
import { unansweredUserTurns } from './unanswered-turn';

// How long an edit looks, on a log with a turn still open that no instance is seen answering, for
// one to take it up: a reply that waited for another instance's holds nothing meanwhile and takes
// the lease within TURN_POLL_MS of its release (ReplyTurns).
export const OPEN_TURN_WAIT_MS = 3 * TURN_POLL_MS;
const OPEN_TURN_POLL_MS = 25;

// What the rule needs of the session's replies (ReplyService).
export interface RepliesOfSession {
  // other instances may answer the session (the reply lease is Redis's)
  readonly shared: boolean;
  // a reply is queued or running here, or another instance holds the session's reply lease
  answeringAnywhere(sessionId: string): Promise<boolean>;
}

export function replyInFlight(): DomainException {
  return new DomainException(ErrorCode.INVALID_MESSAGE, 'Wait for the reply, or stop it first.');
}

// A new version of the newest turn (an edit) is refused while a reply of the session is being made
// on any instance, and while a turn of the log it extends is open and may be about to be answered
// (docs/protocol.md, "Versions"): its reply would be stored after the edit, a second one in the
// edited turn. Until the library audit only this instance's replies were asked about: an edit from a
// device on the other instance was acked while the reply streamed (3 of 3). A turn still open that
// nobody takes up within OPEN_TURN_WAIT_MS is nobody's (its reply failed and stored nothing; its
// instance died): the edit is taken, and replaces it (unansweredUserTurns).
export async function notAnswered(
  sessionId: string,
  log: MessageRecord[],
  replies: RepliesOfSession,
  waitMs = OPEN_TURN_WAIT_MS,
): Promise<void> {
  if (await replies.answeringAnywhere(sessionId)) throw replyInFlight();
  // with one instance, a reply is asked for here at once (ReplyService.request): nothing to wait for
  if (!replies.shared || unansweredUserTurns(log).length === 0) return;
  for (const until = Date.now() + waitMs; Date.now() < until;) {
    await new Promise((resolve) => setTimeout(resolve, OPEN_TURN_POLL_MS));
    if (await replies.answeringAnywhere(sessionId)) throw replyInFlight();
  }
}

import { buildThread, editOf, replyTo } from '../../protocol/thread';
import { openTurnAfter } from '../sessions/session-rules';
import type { MessageRecord } from '../sessions/session.types';

// Every user turn no reply or admin answered, oldest first (docs/protocol.md, "Every acked turn
// ends"). A reply that names its turn (`metadata.reply_to`) answers it and every turn before it (one
// whose reply failed and stored nothing is over once a later one is answered); an admin's message, or
// a reply stored before replies named their turn, answers every turn before it. Takeover and help
// events do not count. The session head keeps the same rule (session-rules.ts, hasOpenTurn). Until
// 2026-12-06 only the newest open turn was ever answered again: a fast client's m1 and m2, whose
// replies were queued on an instance that died, never got one (the chaos audit).
export function unansweredUserTurns(history: MessageRecord[]): MessageRecord[] {
  const seqOf = new Map<string, number>();
  let answeredUpTo = 0;
  for (const message of history) {
    seqOf.set(message.id, message.seq);
    const named = replyTo(message);
    const answers = named === undefined ? undefined : seqOf.get(named);
    if (openTurnAfter(message, message.seq, answers) === null)
      answeredUpTo = Math.max(answeredUpTo, message.seq);
    else if (answers !== undefined) answeredUpTo = Math.max(answeredUpTo, answers);
  }
  const shown = shownNow(history);
  return history.filter(
    (message) =>
      message.seq > answeredUpTo &&
      typeof openTurnAfter(message, message.seq) === 'number' &&
      (shown === undefined || shown.has(message.id)),
  );
}

// The events of the conversation as it reads now, when an edit replaced some (undefined: none did).
// A turn an edit replaced is owed no answer: the edit is (docs/protocol.md, "Versions"). Until the
// library audit a reply to the old text asked for after the edit (a request that waited for another
// instance, a turn whose reply had failed there) was stored beside the edit's own, both under the
// edited turn.
function shownNow(history: MessageRecord[]): Set<string> | undefined {
  if (!history.some((message) => editOf(message) !== undefined)) return undefined;
  return new Set(buildThread(history).current.map((message) => message.id));
}

// The user's newest turn when nothing answered it.
export function unansweredUserTurn(history: MessageRecord[]): MessageRecord | undefined {
  return unansweredUserTurns(history).at(-1);
}

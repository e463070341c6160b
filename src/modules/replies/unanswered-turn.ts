import { openTurnAfter } from '../sessions/session-rules';
import type { MessageRecord } from '../sessions/session.types';

// The user's newest turn when nothing answered it (no admin message or AI reply after it); takeover
// and help events in between do not count (the rule is the one the session head keeps,
// `open_turn_seq`: sessions/session-rules.ts).
export function unansweredUserTurn(history: MessageRecord[]): MessageRecord | undefined {
  for (let index = history.length - 1; index >= 0; index--) {
    const message = history[index];
    const effect = openTurnAfter(message, message.seq);
    if (effect === null) return undefined;
    if (effect !== undefined) return message;
  }
  return undefined;
}

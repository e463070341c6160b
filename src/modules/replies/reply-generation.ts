import { newId } from '../../common/ids';
import type { EphemeralFrame } from '../../protocol/frames';
import type { MessageRecord, WrittenSession } from '../sessions/session.types';

export interface Generation {
  sessionId: string;
  replyId: string;
  clientId?: string;
  modelId: string;
  text: string;
  controller: AbortController;
  done: Promise<void>;
  finish: () => void;
  // frames of a reply started early, held until its message is confirmed stored (then sent)
  held?: EphemeralFrame[];
  // when the caller read the session as unassisted (before its store reads): a takeover seen on
  // this instance since then fences the reply off (docs/protocol.md, "Takeover handoff")
  decidedAt: number;
  // it became the session's reply in flight (show)
  shown?: boolean;
}

// What a reply is asked for.
export interface ReplyRequest {
  sessionId: string;
  userId: string;
  modelId: string;
  clientId?: string;
  // the session as the message asking for this reply left it, when the caller has it
  written?: WrittenSession;
  // regenerating: the reply group this reply is another alternative of
  alternativeOf?: string;
  // the seq of the user's message it answers: the prompt reads nothing the user stored after it
  // (ReplyPrompt); unset for a regeneration, which answers the turn of `alternativeOf`
  turnSeq?: number;
  // the session's log as read just before (ReplyPrompt reads it again when unset)
  log?: MessageRecord[];
  // the user's own action on this instance: the turn its record path just stored (a message, an
  // edit) or a regenerate asked here. Only such a request runs on the fallback of a Redis away past
  // 10 s, and then for its own turn alone (ReplyTurns.inTurn); a turn watch's waits for Redis
  askedHere?: boolean;
  // when the caller began to decide that the model answers (Date.now() before it read the session):
  // a takeover started on this instance since then stops the reply before anything of it is shown
  decidedAt?: number;
}

export function newGeneration(
  sessionId: string,
  modelId: string,
  clientId?: string,
  decidedAt = Date.now(),
): Generation {
  let finish!: () => void;
  const generation: Generation = {
    sessionId,
    replyId: newId(),
    clientId,
    modelId,
    decidedAt,
    text: '',
    controller: new AbortController(),
    done: new Promise<void>((resolve) => (finish = resolve)),
    finish: () => finish(),
  };
  return generation;
}

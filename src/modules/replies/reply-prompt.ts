import { Injectable, Optional } from '@nestjs/common';
import { buildThread, isTurn, replyGroup, replyTo } from '../../protocol/thread';
import type { LlmMessage } from '../../infra/llm/llm-provider';
import { ContextWindow, type ContextMessage } from '../llm/context-window';
import type { ModelEntry } from '../llm/llm.registry';
import type { MessageRecord, WrittenSession } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { FileContextService, withAttachments } from '../uploads/file-context.service';
import { firstUnseen, toContextMessages } from './reply-context';

export interface ReplyPromptInput {
  sessionId: string;
  userId: string;
  modelId: string;
  // the session as the message asking for this reply left it, when the caller has it
  written?: WrittenSession;
  // the log as the caller read it just now (the session's replies are serialized, so it is current)
  log?: MessageRecord[];
  // `written` is the session as the reply must see it even though this instance has not stored
  // it yet (a reply started early, confirmed against the stored session before it is shown)
  exact?: boolean;
  // regenerating: the reply group answered again (left out of the prompt)
  alternativeOf?: string;
  // the seq of the user's message this reply answers: nothing stored after it from the user is read
  turnSeq?: number;
}

export interface AssembledPrompt {
  // the session's log, with the context of its files
  history: MessageRecord[];
  // every turn as the model sees it, and the newest of them that fit its context window
  prompt: ContextMessage[];
  messages: LlmMessage[];
  // a stateful vendor's own conversation (Dify), and the first turn it has not seen
  providerState?: Record<string, unknown>;
  since?: number;
  // the user's message the reply answers (stored as its `metadata.reply_to`; its seq moves the head's
  // answered_turn_seq)
  turnId?: string;
  turnSeq?: number;
}

// What a reply is asked from: the session's history (with its files) fitted to the model's context,
// and for a stateful vendor the turns it missed.
@Injectable()
export class ReplyPrompt {
  constructor(
    private readonly sessions: SessionsService,
    private readonly context: ContextWindow,
    // uploads: files attached to the session become context (text documents by their text)
    @Optional() private readonly fileContext?: FileContextService,
  ) {}

  async assemble(input: ReplyPromptInput, entry: ModelEntry): Promise<AssembledPrompt> {
    const { sessionId, userId, modelId } = input;
    // the session as its message left it still holds the whole history unless this instance has
    // stored something since (a reply queued behind another); then it is read again
    const written =
      input.exact || input.written?.seq === this.sessions.lastSeq(sessionId) ? input.written : undefined;
    const log = written?.messages ?? input.log ?? (await this.sessions.messagesAfter(sessionId, userId, 0));
    const events = upToTurn(buildThread(ownTurnLog(log, input.turnSeq)).current, input.alternativeOf);
    const turn = events.findLast(isTurn);
    // the user's files read as the user's; a file the assisting admin sent here as the admin's, while
    // this session shows it (docs/protocol.md, "Takeover handoff")
    const history = this.fileContext
      ? await this.fileContext.withFileContext(events, userId, {
          vision: entry.settings.vision,
          documents: entry.settings.documents,
          sessionId,
        })
      : events;
    const prompt = withAttachments(toContextMessages(history), history);
    const messages = this.context.fit(prompt, {
      contextTokens: entry.settings.context_tokens,
      maxTokens: entry.settings.max_tokens,
      systemPrompt: entry.settings.system_prompt,
    });
    // read fresh: the state is written outside the log's seq, so no copy proves it (SessionHead)
    const session = entry.provider.stateful ? await this.sessions.getOwned(sessionId, userId) : null;
    const providerState = session ? this.sessions.providerState(session, modelId) : undefined;
    // the context window keeps the newest turns: `messages` is the tail of `prompt`
    const since = providerState
      ? Math.max(0, firstUnseen(prompt, history, modelId) - (prompt.length - messages.length))
      : undefined;
    return { history, prompt, messages, providerState, since, turnId: turn?.id, turnSeq: turn?.seq };
  }
}

// The log as the reply to the turn stored at `turnSeq` must read it (docs/protocol.md, "Every acked
// turn ends"): the user's turns stored after it, and any reply naming one, are left out. A fast
// client's m2 is queued behind m1's reply, and asked after m3 is stored: read as it was then, the
// conversation ended with m3, and the reply tagged m2 answered m3 (the chaos audit: m3 answered
// twice, m2 never).
export function ownTurnLog(log: MessageRecord[], turnSeq: number | undefined): MessageRecord[] {
  if (turnSeq === undefined) return log;
  const later = new Set(
    log.filter((message) => isTurn(message) && message.seq > turnSeq).map((message) => message.id),
  );
  if (later.size === 0) return log;
  return log.filter((message) => {
    if (later.has(message.id)) return false;
    const turn = replyTo(message);
    return turn === undefined || !later.has(turn);
  });
}

// The conversation up to the turn answered: for a regenerated reply, everything before the reply it
// replaces (which is left out, and any turn after it); otherwise the conversation as it reads now.
export function upToTurn(current: MessageRecord[], alternativeOf: string | undefined): MessageRecord[] {
  if (!alternativeOf) return current;
  const at = current.findIndex(
    (message) => message.type === 'ai_response' && replyGroup(message) === alternativeOf,
  );
  return at >= 0 ? current.slice(0, at) : current;
}

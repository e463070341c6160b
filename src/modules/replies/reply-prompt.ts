import { Injectable, Optional } from '@nestjs/common';
import { buildThread, replyGroup } from '../../protocol/thread';
import type { LlmMessage } from '../../infra/llm/llm-provider';
import { ContextWindow, type ContextMessage } from '../llm/context-window';
import type { ModelEntry } from '../llm/llm.registry';
import type { MessageRecord, WrittenSession } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { FileContextService, withImages } from '../uploads/file-context.service';
import { firstUnseen, toContextMessages } from './reply-context';

export interface ReplyPromptInput {
  sessionId: string;
  userId: string;
  modelId: string;
  // the session as the message asking for this reply left it, when the caller has it
  written?: WrittenSession;
  // `written` is the session as the reply must see it even though this instance has not stored
  // it yet (a reply started early, confirmed against the stored session before it is shown)
  exact?: boolean;
  // regenerating: the reply group answered again (left out of the prompt)
  alternativeOf?: string;
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
    const log = written?.messages ?? (await this.sessions.messagesAfter(sessionId, userId, 0));
    // the conversation as it reads now: the latest version of each turn, the chosen reply
    const events = buildThread(log).current.filter(
      (message) =>
        !(
          input.alternativeOf &&
          message.type === 'ai_response' &&
          replyGroup(message) === input.alternativeOf
        ),
    );
    const history = this.fileContext
      ? await this.fileContext.withFileContext(events, userId, { vision: entry.settings.vision })
      : events;
    const prompt = withImages(toContextMessages(history), history);
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
    return { history, prompt, messages, providerState, since };
  }
}

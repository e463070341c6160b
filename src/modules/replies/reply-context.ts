import type { ContextMessage } from '../llm/context-window';
import type { MessageRecord } from '../sessions/session.types';

// History as LLM context: user turns (typed or spoken) and the assistant's replies (admin replies
// count as assistant). The stored id keys the token-count cache; a reply brings the vendor's own
// count of its text (usage.completion_tokens), so the longest messages are never tokenized here.
export function toContextMessages(history: MessageRecord[]): ContextMessage[] {
  const messages: ContextMessage[] = [];
  for (const message of history) {
    if (!message.content) continue;
    if (message.type !== 'user_message' && message.type !== 'voice_message' && message.type !== 'ai_response')
      continue;
    messages.push({
      role: message.sender === 'user' ? 'user' : 'assistant',
      content: message.content,
      key: message.id,
      tokens: message.type === 'ai_response' ? replyTokens(message, message.content) : undefined,
    });
  }
  return messages;
}

// A count of the reply's text is at most its UTF-8 length (every BPE token is at least one byte);
// anything else (none reported, or reasoning tokens counted in) is left to the tokenizer.
function replyTokens(message: MessageRecord, content: string): number | undefined {
  const usage = message.metadata?.usage as { completion_tokens?: unknown } | undefined;
  const tokens = usage?.completion_tokens;
  if (typeof tokens !== 'number' || !Number.isInteger(tokens) || tokens <= 0) return undefined;
  return tokens <= Buffer.byteLength(content) ? tokens : undefined;
}

// A stateful vendor (Dify) holds its own conversation up to its newest answer there. The index in
// `messages` of the first turn after that answer, which the vendor has not seen: another model's
// turns, an admin's, unanswered ones. 0 when the answer is not among them (never given, or trimmed
// away by the context budget, which keeps the newest: all that is left came after it).
export function firstUnseen(messages: ContextMessage[], history: MessageRecord[], modelId: string): number {
  const answer = history.findLast(
    (message) => message.type === 'ai_response' && message.model_id === modelId,
  );
  if (!answer) return 0;
  const index = messages.findIndex((message) => message.key === answer.id);
  return index < 0 ? 0 : index + 1;
}

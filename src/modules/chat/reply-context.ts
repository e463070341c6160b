import type { ContextMessage } from '../llm/context-window';
import type { MessageRecord } from '../sessions/session.types';

// History as LLM context: user turns (typed or spoken) and the assistant's replies (admin replies
// count as assistant). The stored id keys the token-count cache.
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
    });
  }
  return messages;
}

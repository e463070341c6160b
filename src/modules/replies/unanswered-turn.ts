import type { MessageRecord } from '../sessions/session.types';

// The user's newest turn when nothing answered it (no admin message or AI reply after it); takeover
// and help events in between do not count. A bare file upload asks nothing (a caption does).
export function unansweredUserTurn(history: MessageRecord[]): MessageRecord | undefined {
  for (let index = history.length - 1; index >= 0; index--) {
    const message = history[index];
    if (message.type === 'ai_response') return undefined;
    if (message.type === 'user_message' && message.sender !== 'user') return undefined;
    if (message.sender !== 'user') continue;
    if (message.type === 'user_message' || message.type === 'voice_message') return message;
    if (message.type === 'file_upload' && message.content) return message;
  }
  return undefined;
}

import { ROOM_AI_SENDER } from '../../protocol/rooms';
import type { ContextMessage } from '../llm/context-window';
import type { RoomMessageRecord } from './room.types';

// How many of the room's newest messages the AI is asked with (then fitted to the model's context).
export const AI_HISTORY_MESSAGES = 50;

// What the AI is told about where it speaks (sent as a system turn besides the model's own prompt).
export function roomAiInstructions(roomName: string): string {
  return (
    `You are the AI assistant in the group chat room "${roomName}". People's messages come as ` +
    '"<speaker>: <text>" lines. Answer the newest message that mentions @ai, briefly, addressing its speaker.'
  );
}

// The room's history as the model reads it (docs/protocol.md, "@ai in a room"): people's messages
// as user turns prefixed by their speaker, consecutive ones joined into one turn; the AI's stored
// replies (told apart by metadata.ai, which no client can set) as assistant turns. System messages,
// deleted messages and empty AI markers (a failed reply) are left out, and so is any assistant turn
// before the first person's, so the turns alternate and start with the user.
export function roomAiPrompt(history: RoomMessageRecord[]): ContextMessage[] {
  const turns: ContextMessage[] = [];
  for (const message of history) {
    if (message.kind !== 'text' || message.deleted_at) continue;
    if (isAiReply(message)) {
      if (!message.content || turns.length === 0) continue;
      const last = turns.at(-1);
      if (last?.role === 'assistant') last.content += `\n${message.content}`;
      else turns.push({ role: 'assistant', content: message.content, key: `room-ai:${message.id}` });
      continue;
    }
    const line = `${message.sender_id}: ${textOf(message)}`;
    const last = turns.at(-1);
    if (last?.role === 'user') {
      last.content += `\n${line}`;
      // a joined turn's token count is not that of its first message any more
      last.key = undefined;
    } else turns.push({ role: 'user', content: line, key: `room-ai:${message.id}` });
  }
  // the history ends with the asking message, so the last turn is a person's; an AI reply stored
  // after it (another instance's, in between) is not answered again
  while (turns.length > 0 && turns.at(-1)?.role === 'assistant') turns.pop();
  return turns;
}

export function isAiReply(message: Pick<RoomMessageRecord, 'sender_id' | 'metadata'>): boolean {
  return message.sender_id === ROOM_AI_SENDER && typeof message.metadata?.ai === 'object';
}

function textOf(message: RoomMessageRecord): string {
  if (message.content) return message.content;
  const file = message.metadata?.file as { name?: unknown } | undefined;
  return typeof file?.name === 'string' ? `[shared a file: ${file.name}]` : '[shared a file]';
}

import { type LlmMessage, LlmProviderError, type LlmUsage } from './llm-provider';

// What Dify's chat-messages stream sends (src/infra/llm/dify.provider.ts), read field by field
export interface DifyEvent {
  event?: string;
  answer?: string;
  conversation_id?: string;
  task_id?: string;
  url?: string;
  type?: string;
  belongs_to?: string;
  metadata?: { usage?: Partial<LlmUsage> };
  status?: number;
  code?: string;
}

// An event's data as an object (anything else: undefined); data that is not JSON is a broken stream,
// worth a retry
export function parseEvent(data: string): DifyEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new LlmProviderError('dify: malformed event', true);
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as DifyEvent)
    : undefined;
}

// an event's task id, for stopping it; nothing from data that is not a JSON object
export function taskOf(data: string): string | undefined {
  try {
    const taskId = parseEvent(data)?.task_id;
    return typeof taskId === 'string' && taskId !== '' ? taskId : undefined;
  } catch {
    return undefined;
  }
}

// Dify keeps a conversation's history itself and takes only the newest message; turns of our session
// it did not see (before its conversation began, or since its newest answer: another model's, an
// admin's), already fitted to the model's context budget, lead the query as a transcript.
export function withEarlierTurns(earlier: LlmMessage[], newest: string): string {
  const turns = earlier.filter((message) => message.role !== 'system' && message.content.trim() !== '');
  if (turns.length === 0) return newest;
  const transcript = turns
    .map((message) => `${message.role === 'user' ? 'User' : 'Assistant'}: ${message.content}`)
    .join('\n');
  return `Earlier in this conversation:\n${transcript}\n\nThe user now says:\n${newest}`;
}

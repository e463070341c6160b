import { isRecord, metaString, type Frame } from '../../shared/protocol';
import type { ChatMessage, Sender } from './chat-message';
import { parseAttachments, stringOf } from './message-attachments';

// Event types stored in the session log that the thread shows.
export const SHOWN = new Set([
  'user_message',
  'file_upload',
  'voice_message',
  'ai_response',
  'admin_join',
  'admin_leave',
  'help_request',
  'system_message',
  // not shown itself: it chooses which alternative reply is
  'reply_select',
]);

const EPHEMERAL = new Set([
  'ack',
  'error',
  'loading',
  'typing_indicator',
  'connection_status',
  'session_renamed',
  'model_select',
  'feedback',
  'read',
]);

// An event of the session log (it has its own seq), as opposed to acks, deltas and notices.
export function isStoredEvent(frame: Frame): boolean {
  if (frame.id === undefined || frame.seq === undefined || EPHEMERAL.has(frame.type)) return false;
  return !(frame.type === 'ai_response' && frame.metadata?.done === false);
}

// What a client sent is known by its client_id before it has an id; the type keeps apart the
// message and what the server answers with the same client_id (a help request's system_message).
export function keyOf(type: string, clientId: string | undefined, frame: Frame | undefined): string {
  if (clientId) return `${type}:c:${clientId}`;
  return `id:${frame?.id ?? `seq-${frame?.seq}`}`;
}

// The message a stored frame of the session shows as, over what was shown under its key before (the
// frame replayed, echoed or resent).
export function frameMessage(frame: Frame, key: string, previous: ChatMessage | undefined): ChatMessage {
  const sender = asSender(frame.sender, frame.type);
  const message: ChatMessage = {
    ...previous,
    key,
    type: frame.type,
    sender,
    content: frame.content ?? previous?.content ?? '',
    id: frame.id ?? previous?.id,
    clientId: frame.client_id ?? previous?.clientId,
    seq: frame.seq ?? previous?.seq,
    timestamp: frame.timestamp ?? previous?.timestamp,
    modelId: frame.model_id ?? previous?.modelId,
    pending: false,
    failed: undefined,
    streaming: false,
    metadata: frame.metadata ?? previous?.metadata,
  };
  if (frame.type === 'ai_response') {
    message.stopped = frame.metadata?.stopped === true;
    message.interrupted = frame.metadata?.interrupted === true;
    message.attachments = parseAttachments(frame.metadata?.attachments);
  }
  if (frame.type === 'file_upload' || frame.type === 'voice_message') {
    const file = frame.metadata?.file;
    const info = isRecord(file) ? file : {};
    message.attachment = {
      fileId: frame.file_id ?? previous?.attachment?.fileId,
      url: frame.file_url ?? previous?.attachment?.url,
      name: stringOf(info.name) ?? previous?.attachment?.name,
      mimeType: stringOf(info.mime_type) ?? previous?.attachment?.mimeType,
      size: typeof info.size === 'number' ? info.size : previous?.attachment?.size,
    };
  }
  if (frame.type === 'voice_message') {
    // a voice message's content is its transcript: shown once, as the transcript
    message.transcript = metaString(frame, 'transcript') ?? frame.content;
    message.content = '';
  }
  if (frame.type === 'admin_join' || frame.type === 'admin_leave') {
    const name = metaString(frame, 'admin_name') ?? 'An admin';
    message.content =
      frame.type === 'admin_join' ? `${name} joined the conversation` : `${name} left the conversation`;
    message.sender = 'system';
  }
  if (frame.type === 'help_request') {
    message.content = frame.content ? `Help requested: ${frame.content}` : 'Help requested';
    message.sender = 'system';
  }
  if (frame.type === 'system_message') message.sender = 'system';
  return message;
}

function asSender(sender: string | undefined, type: string): Sender {
  if (sender === 'user' || sender === 'ai' || sender === 'admin' || sender === 'system') return sender;
  return type === 'ai_response' ? 'ai' : 'user';
}

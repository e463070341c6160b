import type { ServerMessage, StoredEventFrame } from '../../protocol/frames';
import type { MessageRecord } from '../sessions/session.types';

// Server → client frames (docs/protocol.md; typed in src/protocol/frames.ts, which the client
// imports too). Every frame of a session carries `seq`: for stored events their own seq, for
// ephemeral frames (deltas, loading, typing) the last stored seq.
export type ServerFrame = ServerMessage;

export function storedFrame(sessionId: string, message: MessageRecord): StoredEventFrame {
  const frame: StoredEventFrame = {
    type: message.type,
    session_id: sessionId,
    seq: message.seq,
    id: message.id,
    sender: message.sender,
    timestamp: message.timestamp.toISOString(),
  };
  if (message.client_id !== undefined) frame.client_id = message.client_id;
  if (message.content !== undefined) frame.content = message.content;
  if (message.model_id !== undefined) frame.model_id = message.model_id;
  if (message.file_id !== undefined) {
    frame.file_id = message.file_id;
    // the stable app URL (redirects to a URL signed when read); signed URLs are never stored
    frame.file_url = `/chat/files/${encodeURIComponent(message.file_id)}`;
  }
  // a stored AI reply is the final frame of its stream
  frame.metadata = message.type === 'ai_response' ? { ...message.metadata, done: true } : message.metadata;
  // a voice message's transcript is its (encrypted) content, shown as metadata.transcript too
  if (message.type === 'voice_message' && message.content !== undefined)
    frame.metadata = { ...frame.metadata, transcript: message.content };
  if (frame.metadata === undefined) delete frame.metadata;
  return frame;
}

import { helpWaiting } from '../../sessions/session-rules';
import type { MessageRecord, SessionRecord, SessionWithMessages } from '../../sessions/session.types';

// HTTP shapes of CONTRACT §3 (snake_case).
export function sessionSummary(session: SessionRecord) {
  return {
    id: session.id,
    name: session.name,
    model_id: session.model_id,
    start_time: session.start_time.toISOString(),
    last_message_at: session.last_message_at?.toISOString() ?? null,
    message_count: session.message_count,
    admin_assisted: session.admin_assisted,
    assisting_admin_name: session.assisting_admin_name,
    // assisting_admin_name stays once the takeover ended (admin_assisted's admin): this says whether
    // an admin assists now; help_pending, whether a help request waits for one
    takeover_in_progress: session.assisting_admin_id != null,
    help_requested: session.help_requested,
    help_pending: helpWaiting(session),
    is_active: session.is_active,
    feedback_up: session.feedback_up ?? 0,
    feedback_down: session.feedback_down ?? 0,
    archived: session.archived ?? false,
  };
}

export function sessionDetail(session: SessionWithMessages) {
  return {
    ...sessionSummary(session),
    user_id: session.user_id,
    // admins read deleted sessions too: when the user deleted it
    deleted_at: session.deleted_at?.toISOString() ?? null,
    end_time: session.end_time?.toISOString() ?? null,
    duration_ms: session.duration_ms,
    last_activity: session.last_activity.toISOString(),
    seq: session.seq,
    total_tokens: session.total_tokens,
    prompt_tokens: session.prompt_tokens,
    completion_tokens: session.completion_tokens,
    avg_response_ms: session.avg_response_ms,
    max_response_ms: session.max_response_ms,
    messages: session.messages.map(messageView),
  };
}

export function messageView(message: MessageRecord) {
  return {
    id: message.id,
    seq: message.seq,
    type: message.type,
    sender: message.sender,
    client_id: message.client_id,
    content: message.content,
    timestamp: message.timestamp.toISOString(),
    model_id: message.model_id,
    file_id: message.file_id,
    file_url: message.file_id ? `/chat/files/${encodeURIComponent(message.file_id)}` : undefined,
    feedback_reason: message.feedback_reason,
    // a voice message's transcript is its (encrypted) content, shown as metadata.transcript too
    metadata:
      message.type === 'voice_message' && message.content !== undefined
        ? { ...message.metadata, transcript: message.content }
        : message.metadata,
  };
}

import type { Frame } from '../../shared/protocol';
import type { ChatStore } from '../../chat/src/chat-store';

export interface PanelUpdate {
  redraw: boolean;
  // a refusal of one of the admin's messages, to show
  error?: string;
  // one of the admin's messages was stored: a "sending too quickly" notice is over
  sent?: boolean;
  userTyping?: boolean;
}

// What a frame from the admin link does to one session's panel.
export function applyPanelFrame(store: ChatStore, sessionId: string, frame: Frame): PanelUpdate {
  if (frame.type === 'error') {
    // an admin message's refusal names the session it was for, which may not be the one the socket
    // is bound to: its client_id is what finds it. Errors without one answer typing frames (never
    // shown) or admin_join/admin_leave (their own request reports those).
    const clientId = frame.client_id;
    if (!clientId || !store.pendingMessage(clientId)) return { redraw: false };
    // An admin's message is refused SESSION_LOCKED only when the admin no longer holds the session
    // ("You do not hold this session."): the takeover ended (a lapse while offline, a release
    // elsewhere), whoever holds it now. Until the admin-dashboard audit of session 43 it read "Another
    // admin is already assisting this conversation." with nobody assisting (1 of 1).
    const refused = frame.error?.code ?? 'INTERNAL';
    const code = refused === 'SESSION_LOCKED' ? 'TAKEOVER_ENDED' : refused;
    store.fail(clientId, code);
    return { redraw: true, error: code };
  }
  if (frame.type === 'ack' && frame.client_id) {
    const sent = store.pendingMessage(frame.client_id) !== undefined;
    store.ack(frame.client_id, frame.id, frame.seq);
    return { redraw: sent, sent };
  }
  if (frame.session_id !== sessionId) return { redraw: false };
  if (frame.type === 'typing_indicator')
    return { redraw: false, userTyping: frame.sender === 'user' && frame.metadata?.typing === true };
  if (frame.type === 'read' && frame.id) {
    store.markSeen(frame.id, String(frame.metadata?.seen_at ?? ''));
    return { redraw: true };
  }
  store.sessionId = sessionId;
  return { redraw: store.apply(frame) };
}

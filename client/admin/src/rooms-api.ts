import { apiJson } from '../../shared/api';
import type { PresenceStatus, RoomMessageFrame } from '../../shared/protocol';
import type { Page } from './admin-api';

// Typed calls to the rooms REST API (/api/v1/chat/..., docs/protocol.md "Rooms") the dashboard uses
// to moderate: admins may read and moderate every room.
const ROOMS = '../api/v1/chat';

export interface AdminRoom {
  id: string;
  kind: 'public' | 'private' | 'dm';
  name: string;
  topic?: string;
  owner_id: string;
  dm_users?: string[];
  created_at: string;
  last_message_at: string | null;
}

export interface RoomReport {
  id: string;
  room_id: string;
  message_id: string;
  reporter_id: string;
  sender_id: string;
  reason?: string;
  // the reported message as it was when reported; null for reports made before that was kept
  reported: {
    seq: number;
    sent_at: string;
    edited_at?: string;
    deleted?: boolean;
    content?: string;
    file_name?: string;
    // not decrypted (docs/protocol.md, "Content at rest"): no text or file name
    unreadable?: boolean;
  } | null;
  at: string;
}

export interface RoomMember {
  user_id: string;
  role: 'owner' | 'moderator' | 'member';
  muted_until: string | null;
  presence: PresenceStatus;
}

export type ModerationAction = 'mute' | 'unmute' | 'kick' | 'ban' | 'unban';

export function listRooms(token: string, page = 1, limit = 50): Promise<Page<AdminRoom>> {
  return apiJson(`${ROOMS}/admin/rooms`, token, { query: { page: String(page), limit: String(limit) } });
}

export function listReports(token: string, page = 1, limit = 50): Promise<Page<RoomReport>> {
  return apiJson(`${ROOMS}/admin/reports`, token, { query: { page: String(page), limit: String(limit) } });
}

export function roomMembers(token: string, roomId: string): Promise<RoomMember[]> {
  return apiJson(`${ROOMS}/rooms/${encodeURIComponent(roomId)}/participants`, token);
}

// `@ai` tokens billed to the room (docs/protocol.md, "@ai in a room")
export interface RoomAiUsage {
  room_id: string;
  replies: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  by_model: Array<{ model: string; replies: number; total_tokens: number }>;
}

export function roomAiUsage(token: string, roomId: string): Promise<RoomAiUsage> {
  return apiJson(`${ROOMS}/rooms/${encodeURIComponent(roomId)}/ai-usage`, token);
}

export function roomMessages(
  token: string,
  roomId: string,
): Promise<{ items: RoomMessageFrame[]; next_before: number | null }> {
  return apiJson(`${ROOMS}/rooms/${encodeURIComponent(roomId)}/messages`, token, { query: { limit: '100' } });
}

export function deleteMessage(token: string, roomId: string, messageId: string): Promise<unknown> {
  return apiJson(
    `${ROOMS}/rooms/${encodeURIComponent(roomId)}/messages/${encodeURIComponent(messageId)}`,
    token,
    {
      method: 'DELETE',
    },
  );
}

export function moderate(
  token: string,
  roomId: string,
  action: ModerationAction,
  userId: string,
): Promise<unknown> {
  return apiJson(`${ROOMS}/rooms/${encodeURIComponent(roomId)}/moderation/${action}`, token, {
    method: 'POST',
    body: { user_id: userId },
  });
}

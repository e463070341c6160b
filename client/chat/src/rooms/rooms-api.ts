import { apiJson } from '../../../shared/api';
import type { ChangesPage } from './change-read';

// The rooms REST API (/api/v1/chat/..., docs/protocol.md "Rooms") as the chat client calls it: beside
// the chat page at /chat/, so one level up (also behind a proxy prefix).
const BASE = '../api/v1/chat';

export interface RoomSummary {
  id: string;
  kind: 'public' | 'private' | 'dm';
  name: string;
  topic?: string;
  owner_id: string;
  dm_users?: string[];
  last_message_at: string | null;
  membership: 'member' | 'invited' | 'left' | 'kicked' | 'banned' | null;
  role: 'owner' | 'moderator' | 'member' | null;
  unread_count: number;
  // more messages follow the 100 the server counted: unread_count is a lower bound
  unread_more?: boolean;
  // members: the user's read mark in the room (the seq read up to, on any device)
  read_seq?: number;
  // the model `@ai` asks: a model id, `off`, or null for the default model
  ai_model?: string | null;
}

// A public room as GET /rooms/public lists it (docs/protocol.md, "Finding public rooms").
export interface PublicRoom {
  id: string;
  kind: 'public';
  name: string;
  topic?: string | null;
  membership: RoomSummary['membership'];
}

export interface PublicRoomPage {
  // by name
  items: PublicRoom[];
  // the next page's cursor; null on the last page
  next_cursor: string | null;
}

export interface HistoryPage {
  // stored messages, oldest first (checked one by one by the store)
  items: unknown[];
  next_before: number | null;
}

const room = (roomId: string) => `${BASE}/rooms/${encodeURIComponent(roomId)}`;

export const roomsApi = {
  list: (token: string) => apiJson<RoomSummary[]>(`${BASE}/rooms`, token),
  // every public room by name, `q` finding those whose name holds it; `cursor` from the page before
  publicRooms: (token: string, q: string, cursor: string | null, signal?: AbortSignal) =>
    apiJson<PublicRoomPage>(`${BASE}/rooms/public`, token, {
      query: { q: q.trim() || undefined, cursor: cursor ?? undefined, limit: '20' },
      ...(signal ? { signal } : {}),
    }),
  create: (token: string, name: string, kind: 'public' | 'private') =>
    apiJson<RoomSummary>(`${BASE}/rooms`, token, { method: 'POST', body: { name, kind } }),
  openDm: (token: string, userId: string) =>
    apiJson<RoomSummary>(`${BASE}/dms`, token, { method: 'POST', body: { user_id: userId } }),
  update: (token: string, roomId: string, changes: { ai_model?: string | null }) =>
    apiJson<RoomSummary>(room(roomId), token, { method: 'PATCH', body: changes }),
  invite: (token: string, roomId: string, userId: string) =>
    apiJson<unknown>(`${room(roomId)}/invite`, token, { method: 'POST', body: { user_id: userId } }),
  report: (token: string, roomId: string, messageId: string, reason: string) =>
    apiJson<{ report_id: string }>(
      `${room(roomId)}/messages/${encodeURIComponent(messageId)}/report`,
      token,
      {
        method: 'POST',
        body: reason ? { reason } : {},
      },
    ),
  // the users this user blocked (`user_ids`, checked by the caller), and a block or unblock
  blocks: (token: string) => apiJson<{ user_ids?: unknown } | undefined>(`${BASE}/blocks`, token),
  block: (token: string, userId: string) =>
    apiJson<unknown>(`${BASE}/blocks`, token, { method: 'POST', body: { user_id: userId } }),
  unblock: (token: string, userId: string) =>
    apiJson<unknown>(`${BASE}/blocks/${encodeURIComponent(userId)}`, token, { method: 'DELETE' }),
  history: (token: string, roomId: string, before: number, limit: number) =>
    apiJson<HistoryPage>(`${room(roomId)}/messages`, token, {
      query: { before: String(before), limit: String(limit) },
    }),
  // the messages changed after change number `after`, as the server holds them now
  changedAfter: (token: string, roomId: string, after: number, limit: number) =>
    apiJson<ChangesPage>(`${room(roomId)}/messages`, token, {
      query: { changed_after: String(after), limit: String(limit) },
    }),
  // the newest `limit` messages as the server holds them now (edited, deleted, reactions)
  newest: (token: string, roomId: string, limit: number) =>
    apiJson<HistoryPage>(`${room(roomId)}/messages`, token, { query: { limit: String(limit) } }),
};

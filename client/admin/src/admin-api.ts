import { apiJson } from '../../shared/api';

// Typed calls to the admin API of CONTRACT §3 (/chat/admin/*) and the session detail.
export interface AdminSession {
  id: string;
  name: string;
  user_id: string;
  start_time: string;
  end_time: string | null;
  last_message_at: string | null;
  last_activity?: string;
  duration_ms: number | null;
  message_count: number;
  total_tokens: number;
  avg_response_ms: number;
  max_response_ms: number;
  admin_assisted: boolean;
  assisting_admin_name?: string | null;
  help_requested: boolean;
  // help requested and not answered by an admin yet (absent from older servers)
  help_pending?: boolean;
  // an admin assists now; assisting_admin_name may outlive the takeover (absent from older servers)
  takeover_in_progress?: boolean;
  is_active: boolean;
  feedback_up?: number;
  feedback_down?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

export interface Metrics {
  total_sessions: number;
  active_sessions: number;
  avg_concurrent: number;
  max_concurrent: number;
  total_tokens: number;
  avg_response_ms: number;
  max_response_ms: number;
  admin_assisted_count: number;
  feedback_up?: number;
  feedback_down?: number;
  csat?: Array<{
    admin_id: string;
    admin_name: string | null;
    count: number;
    average: number;
    distribution: number[];
  }>;
  p50_help_response_ms?: number;
  p90_help_response_ms?: number;
  models?: Array<{
    model_id: string;
    replies: number;
    rated: number;
    feedback_rate: number;
    feedback_up: number;
    feedback_down: number;
    regenerations: number;
  }>;
}

export interface StoredMessage {
  id: string;
  seq: number;
  type: string;
  sender: string;
  client_id?: string;
  content?: string;
  timestamp: string;
  model_id?: string;
  file_id?: string;
  file_url?: string;
  metadata?: Record<string, unknown>;
}

export interface SessionDetail extends AdminSession {
  seq: number;
  messages: StoredMessage[];
}

export interface CannedResponse {
  id: string;
  title: string;
  text: string;
  shortcut: string;
}

export interface SessionNote {
  id: string;
  admin_name: string | null;
  text: string;
  // not decrypted (docs/protocol.md, "Content at rest"): `text` is ""
  unreadable?: boolean;
  created_at: string;
}

export function cannedResponses(token: string): Promise<CannedResponse[]> {
  return apiJson('admin/canned-responses', token);
}

export function sessionNotes(token: string, sessionId: string): Promise<SessionNote[]> {
  return apiJson(`admin/sessions/${encodeURIComponent(sessionId)}/notes`, token);
}

export function addSessionNote(token: string, sessionId: string, text: string): Promise<SessionNote> {
  return apiJson(`admin/sessions/${encodeURIComponent(sessionId)}/notes`, token, {
    method: 'POST',
    body: { text },
  });
}

export type SortField = 'start_time' | 'duration' | 'user_id' | 'last_activity';

export interface SessionQuery {
  user_id?: string;
  status?: '' | 'active' | 'ended';
  admin_assisted?: '' | 'true' | 'false';
  help_requested?: '' | 'true' | 'false';
  feedback?: '' | 'negative' | 'positive';
  from?: string;
  to?: string;
  sort: SortField;
  order: 'asc' | 'desc';
  page: number;
  limit: number;
  // the pages after the first are read as of the first one (session-pages.ts)
  as_of?: string;
}

// `as_of`: the time the list was read as of (servers before the admin audit send none)
export type SessionPage = Page<AdminSession> & { as_of?: string };

export function listSessions(token: string, query: SessionQuery): Promise<SessionPage> {
  return apiJson('admin/sessions', token, {
    query: {
      ...query,
      from: toIso(query.from),
      to: toIso(query.to),
      page: String(query.page),
      limit: String(query.limit),
    },
  });
}

// the same figures for one of `buckets` equal consecutive slices of [from, to]
export type MetricsSlice = Metrics & { from: string; to: string };
export type MetricsAnswer = Metrics & { buckets?: MetricsSlice[] };

export function metrics(
  token: string,
  from: Date,
  to: Date,
  buckets?: number,
  signal?: AbortSignal,
): Promise<MetricsAnswer> {
  return apiJson('admin/metrics', token, {
    signal,
    query: {
      from: from.toISOString(),
      to: to.toISOString(),
      buckets: buckets === undefined ? undefined : String(buckets),
    },
  });
}

export function sessionDetail(token: string, id: string): Promise<SessionDetail> {
  return apiJson(`sessions/${encodeURIComponent(id)}`, token);
}

// <input type="datetime-local"> values are local times without a zone
function toIso(local: string | undefined): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

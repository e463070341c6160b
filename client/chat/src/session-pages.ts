import { apiJson } from '../../shared/api';

export interface SessionSummary {
  id: string;
  name: string;
  last_message_at: string | null;
  start_time?: string;
  message_count: number;
  admin_assisted: boolean;
  assisting_admin_name?: string | null;
  help_requested?: boolean;
  is_active: boolean;
  archived?: boolean;
}

export interface SessionPage {
  items: SessionSummary[];
  // the cursor of the page after this one; null on the last
  next: string | null;
}

// GET /chat/sessions answers a page, newest activity first; a full one names the next in
// `Link: </chat/sessions?…&before=<cursor>>; rel="next"` (docs/protocol.md, "Session library"). The
// link's path is the server's own, not the page's (a proxy may serve the API under a prefix): only
// its cursor is taken, and asked for beside the chat as every other call is.
export async function loadSessionPage(
  token: string,
  archived: boolean,
  before?: string,
): Promise<SessionPage> {
  let link: string | null = null;
  const items = await apiJson<SessionSummary[]>('sessions', token, {
    query: { archived: archived ? 'true' : undefined, before },
    onHeaders: (headers) => (link = headers.get('link')),
  });
  return { items: Array.isArray(items) ? items : [], next: nextPageCursor(link) };
}

// The `before` cursor of a Link header's rel="next" target, or null.
export function nextPageCursor(link: string | null): string | null {
  for (const part of (link ?? '').split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!match || !/\brel\s*=\s*"?next"?/.test(match[2])) continue;
    try {
      return new URL(match[1], 'https://chatbox.invalid/').searchParams.get('before');
    } catch {
      return null;
    }
  }
  return null;
}

// A later page below the ones shown: each session once (one with new activity between the reads
// may come again), most recent activity first.
export function mergeSessionPage(shown: SessionSummary[], page: SessionSummary[]): SessionSummary[] {
  const seen = new Set(shown.map((session) => session.id));
  return [...shown, ...page.filter((session) => !seen.has(session.id))].sort(
    (a, b) => activity(b) - activity(a),
  );
}

export function activity(session: SessionSummary): number {
  return Date.parse(session.last_message_at ?? session.start_time ?? '') || 0;
}

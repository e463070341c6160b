import type { SessionPage, SessionQuery } from './admin-api';

// The query for another page of the sessions list. The first page is read as it is now; the pages
// after it as of the first one's read (`as_of`), so sessions arriving meanwhile shift nothing and no
// session shows twice (docs/protocol.md, "Admin list pages"). Back on the first page the list is read
// fresh again.
export function pageQuery(query: SessionQuery, page: number, shown: SessionPage | null): SessionQuery {
  return { ...query, page, as_of: page > 1 ? (query.as_of ?? shown?.as_of) : undefined };
}

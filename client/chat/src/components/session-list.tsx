import { useEffect, useState } from 'preact/hooks';
import { apiBase, apiJson, ApiError } from '../../../shared/api';
import { errorText } from '../../../shared/errors';
import { dateTime } from '../../../shared/format';
import { activity, loadSessionPage, mergeSessionPage, type SessionSummary } from '../session-pages';
import { Icon } from './icons';

export type { SessionSummary };

interface SearchHit {
  session_id: string;
  session_name: string;
  message_id?: string;
  seq?: number;
  snippet?: string;
}

interface Props {
  token: string;
  currentId: string | null;
  // sessions with messages not sent yet, owed to them until they are opened again
  owed: ReadonlySet<string>;
  // `seq`: a search hit opens the session at that message
  onOpen(id: string, seq?: number): void;
  onNew(): void;
  onBack(): void;
}

// The user's sessions, most recent activity first (the server's order; sorted again to be sure), a
// page at a time: "Show more" reads the next (session-pages.ts).
export function SessionList({ token, currentId, owed, onOpen, onNew, onBack }: Props) {
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  // the next page's cursor (null: none), and whether it is being read
  const [next, setNext] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [archived, setArchived] = useState(false);
  const [version, setVersion] = useState(0);
  const [query, setQuery] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  // search as one types (debounced)
  useEffect(() => {
    const text = query.trim();
    if (text.length < 2) {
      setHits(null);
      return;
    }
    const timer = setTimeout(() => {
      apiJson<{ items: SearchHit[] }>('search', token, { query: { q: text } }).then(
        (found) => setHits(found.items),
        fail,
      );
    }, 250);
    return () => clearTimeout(timer);
  }, [token, query]);
  const fail = (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL');
  useEffect(() => {
    let live = true;
    loadSessionPage(token, archived).then((page) => {
      if (!live) return;
      setSessions([...page.items].sort((a, b) => activity(b) - activity(a)));
      setNext(page.next);
    }, fail);
    return () => {
      live = false;
    };
  }, [token, archived, version]);
  const showMore = () => {
    if (!next || loadingMore) return;
    setLoadingMore(true);
    loadSessionPage(token, archived, next)
      .then((page) => {
        setSessions((shown) => mergeSessionPage(shown ?? [], page.items));
        setNext(page.next);
      }, fail)
      .finally(() => setLoadingMore(false));
  };
  // rename, archive, delete: then the list is read again
  const change = (session: SessionSummary, method: 'PATCH' | 'DELETE', body?: unknown) =>
    apiJson(`sessions/${encodeURIComponent(session.id)}`, token, { method, body }).then(
      () => setVersion((value) => value + 1),
      fail,
    );
  const rename = (session: SessionSummary) => {
    const name = window.prompt('Rename the conversation', session.name)?.trim();
    if (name) void change(session, 'PATCH', { name });
  };
  const remove = (session: SessionSummary) => {
    if (window.confirm(`Delete "${session.name}"?`)) void change(session, 'DELETE');
  };
  return (
    <section class="sessions" aria-label="Your conversations">
      <div class="sessions-head">
        <button type="button" class="icon-button" onClick={onBack} title="Back to the chat">
          <Icon name="back" />
          <span class="sr">Back to the chat</span>
        </button>
        <h2>Conversations</h2>
        <button type="button" class="button primary" onClick={onNew}>
          <Icon name="plus" /> New chat
        </button>
      </div>
      {error && <p class="note error">{errorText(error)}</p>}
      {!sessions && !error && <p class="empty">Loading…</p>}
      <input
        class="session-search"
        type="search"
        aria-label="Search conversations"
        placeholder="Search conversations"
        value={query}
        onInput={(event) => setQuery((event.currentTarget as HTMLInputElement).value)}
      />
      {hits && (
        <ul class="search-hits" aria-label="Search results">
          {hits.length === 0 && <li class="empty">No matches.</li>}
          {hits.map((hit) => (
            <li key={`${hit.session_id}:${hit.message_id ?? ''}`}>
              <button type="button" class="session" onClick={() => onOpen(hit.session_id, hit.seq)}>
                <span class="name">{hit.session_name || 'New chat'}</span>
                {hit.snippet && <span class="meta">{hit.snippet}</span>}
              </button>
            </li>
          ))}
        </ul>
      )}
      <label class="archived-toggle">
        <input
          type="checkbox"
          checked={archived}
          onChange={(event) => setArchived((event.currentTarget as HTMLInputElement).checked)}
        />{' '}
        Show archived
      </label>
      {sessions?.length === 0 && (
        <p class="empty">{archived ? 'No archived conversations.' : 'No conversations yet.'}</p>
      )}
      <ul>
        {sessions?.map((session) => (
          <li key={session.id}>
            <button
              type="button"
              class={session.id === currentId ? 'session current' : 'session'}
              onClick={() => onOpen(session.id)}
              aria-current={session.id === currentId ? 'true' : undefined}
              data-session-id={session.id}
            >
              <span class="name">{session.name || 'New chat'}</span>
              <span class="meta">
                <time>{dateTime(session.last_message_at ?? session.start_time)}</time> ·{' '}
                {session.message_count} {session.message_count === 1 ? 'message' : 'messages'}
              </span>
              <span class="badges">
                {owed.has(session.id) && <span class="badge unsent">Unsent</span>}
                {session.admin_assisted && <span class="badge assisted">Admin assisted</span>}
                {session.is_active && <span class="badge active">Active</span>}
              </span>
            </button>
            <span class="session-actions" data-testid="session-actions">
              <button type="button" class="link" onClick={() => rename(session)}>
                Rename
              </button>
              <button
                type="button"
                class="link"
                onClick={() => void change(session, 'PATCH', { archived: !session.archived })}
              >
                {session.archived ? 'Unarchive' : 'Archive'}
              </button>
              <button
                type="button"
                class="link"
                onClick={() => void download(session, token, 'md').catch(fail)}
              >
                Export
              </button>
              <button
                type="button"
                class="link"
                onClick={() => void download(session, token, 'json').catch(fail)}
              >
                JSON
              </button>
              <button type="button" class="link danger" onClick={() => remove(session)}>
                Delete
              </button>
            </span>
          </li>
        ))}
      </ul>
      {next && (
        <button type="button" class="button more" onClick={showMore} disabled={loadingMore}>
          {loadingMore ? 'Loading…' : 'Show more'}
        </button>
      )}
    </section>
  );
}

// The export is fetched with the token (a link cannot carry it), then saved as a file.
async function download(session: SessionSummary, token: string, format: 'md' | 'json'): Promise<void> {
  const url = new URL(`sessions/${encodeURIComponent(session.id)}/export`, apiBase());
  url.searchParams.set('format', format);
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new ApiError('INTERNAL', response.status);
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await response.blob());
  link.download = `${session.name.replace(/[^\w -]+/g, '').trim() || 'chat'}.${format}`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

import { useEffect, useState } from 'preact/hooks';
import { ApiError, apiJson } from '../../shared/api';
import { errorText } from '../../shared/errors';

export interface AdminSearchHit {
  session_id: string;
  session_name: string;
  user_id: string;
  message_id?: string;
  seq?: number;
  snippet?: string;
}

// Search every user's sessions (blind index, docs/protocol.md "Search"); a hit opens the session at
// that message.
export function AdminSearch({ token, onOpen }: { token: string; onOpen(hit: AdminSearchHit): void }) {
  const [query, setQuery] = useState('');
  const [hits, setHits] = useState<AdminSearchHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const text = query.trim();
    if (text.length < 2) {
      setHits(null);
      return;
    }
    const timer = setTimeout(() => {
      apiJson<{ items: AdminSearchHit[] }>('admin/search', token, { query: { q: text } }).then(
        (found) => {
          setHits(found.items);
          setError(null);
        },
        (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [token, query]);
  return (
    <section class="panel admin-search" aria-label="Search conversations">
      <input
        type="search"
        aria-label="Search all conversations"
        placeholder="Search all conversations…"
        value={query}
        onInput={(event) => setQuery((event.currentTarget as HTMLInputElement).value)}
      />
      {error && <p class="note error">{errorText(error)}</p>}
      {hits && (
        <ul aria-label="Search results">
          {hits.length === 0 && <li class="empty">No matches.</li>}
          {hits.map((hit) => (
            <li key={`${hit.session_id}:${hit.message_id ?? ''}`}>
              <button type="button" class="link" onClick={() => onOpen(hit)}>
                <strong>{hit.session_name}</strong> · {hit.user_id}
              </button>
              {hit.snippet && <span class="snippet"> — {hit.snippet}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

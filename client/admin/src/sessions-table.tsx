import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { dateTime, duration } from '../../shared/format';
import {
  listSessions,
  type AdminSession,
  type SessionPage,
  type SessionQuery,
  type SortField,
} from './admin-api';
import { Pager } from './pager';
import { pageQuery } from './session-pages';
import { assistingAdmin, needsHelp } from './session-flags';

interface Props {
  token: string;
  query: SessionQuery;
  refreshKey: number;
  selectedId: string | null;
  onQuery(query: SessionQuery): void;
  onOpen(session: AdminSession): void;
}

const COLUMNS: Array<{ label: string; sort?: SortField }> = [
  { label: 'User', sort: 'user_id' },
  { label: 'Session' },
  // right after the session: a "Help requested" badge is never scrolled out of sight (issue 15)
  { label: 'State' },
  { label: 'Started', sort: 'start_time' },
  { label: 'Last activity', sort: 'last_activity' },
  { label: 'Duration', sort: 'duration' },
  { label: 'Messages' },
  { label: 'Tokens' },
  { label: 'Avg / max response' },
];

const YES_NO: Array<[string, string]> = [
  ['', 'any'],
  ['true', 'yes'],
  ['false', 'no'],
];

// the filters that pick one of a few values (the query's own values, '' for any)
const CHOICES: Array<{
  label: string;
  key: 'status' | 'admin_assisted' | 'help_requested' | 'feedback';
  options: Array<[string, string]>;
}> = [
  {
    label: 'Status',
    key: 'status',
    options: [
      ['', 'any'],
      ['active', 'active'],
      ['ended', 'ended'],
    ],
  },
  { label: 'Assisted', key: 'admin_assisted', options: YES_NO },
  { label: 'Help requested', key: 'help_requested', options: YES_NO },
  {
    label: 'Feedback',
    key: 'feedback',
    options: [
      ['', 'any'],
      ['negative', 'negative'],
      ['positive', 'positive'],
    ],
  },
];

// Every user's sessions (CONTRACT §3 /chat/admin/sessions): filters, sorting, pages; reloads itself.
export function SessionsTable({ token, query, refreshKey, selectedId, onQuery, onOpen }: Props) {
  const [page, setPage] = useState<SessionPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    listSessions(token, query).then(
      (result) => {
        if (!live) return;
        setPage(result);
        setError(null);
      },
      (failure: unknown) => live && setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
    );
    return () => {
      live = false;
    };
  }, [token, query, refreshKey]);

  // a filter, a sort or a page size reads the list fresh from its first page
  const set = (patch: Partial<SessionQuery>) => onQuery({ ...query, page: 1, as_of: undefined, ...patch });
  const text = (event: Event) => (event.currentTarget as HTMLInputElement | HTMLSelectElement).value;
  const pages = page ? Math.max(1, Math.ceil(page.total / page.limit)) : 1;
  const helpCount = page?.items.filter(needsHelp).length ?? 0;

  return (
    <section class="panel" aria-labelledby="sessions-title">
      <div class="panel-head">
        <h2 id="sessions-title">Sessions</h2>
        <span class="count" data-testid="session-total">
          {page ? `${page.total} total` : ''}
          {helpCount > 0 && <strong class="help-count"> · {helpCount} need help</strong>}
        </span>
      </div>
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Filters">
        <label>
          User
          <FilterInput
            type="search"
            value={query.user_id ?? ''}
            placeholder="user id"
            onCommit={(value) => set({ user_id: value })}
          />
        </label>
        <label>
          From
          <FilterInput
            type="datetime-local"
            value={query.from ?? ''}
            onCommit={(value) => set({ from: value })}
          />
        </label>
        <label>
          To
          <FilterInput
            type="datetime-local"
            value={query.to ?? ''}
            onCommit={(value) => set({ to: value })}
          />
        </label>
        {CHOICES.map(({ label, key, options }) => (
          <label key={key}>
            {label}
            <select
              value={query[key]}
              onChange={(event) => set({ [key]: text(event) } as Partial<SessionQuery>)}
            >
              {options.map(([value, name]) => (
                <option key={value} value={value}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        ))}
      </form>
      {error && <p class="note error">{errorText(error)}</p>}
      <div class="table-wrap">
        <table class="sessions-table" aria-label="Sessions">
          <thead>
            <tr>
              {COLUMNS.map((column) => (
                <th
                  key={column.label}
                  scope="col"
                  aria-sort={
                    column.sort === query.sort
                      ? query.order === 'asc'
                        ? 'ascending'
                        : 'descending'
                      : undefined
                  }
                >
                  {column.sort ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() =>
                        set({
                          sort: column.sort,
                          order: query.sort === column.sort && query.order === 'desc' ? 'asc' : 'desc',
                        })
                      }
                    >
                      {column.label}
                      {column.sort === query.sort ? (query.order === 'asc' ? ' ▲' : ' ▼') : ''}
                    </button>
                  ) : (
                    column.label
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {page?.items.map((session) => (
              <tr
                key={session.id}
                class={`${needsHelp(session) ? 'help' : ''} ${session.id === selectedId ? 'selected' : ''}`}
                data-session-id={session.id}
              >
                <td>
                  <button
                    type="button"
                    class="link"
                    onClick={() => set({ user_id: session.user_id })}
                    title="Show this user's sessions"
                  >
                    {session.user_id}
                  </button>
                </td>
                <td>
                  <button type="button" class="link open" onClick={() => onOpen(session)}>
                    {session.name || session.id.slice(0, 8)}
                  </button>
                </td>
                <td class="state">
                  {needsHelp(session) && <span class="badge help">Help requested</span>}
                  {(session.feedback_down ?? 0) > 0 && (
                    <span class="badge negative" title="Replies rated down">
                      👎 {session.feedback_down}
                    </span>
                  )}
                  {assistingAdmin(session) && <span class="badge assisted">{assistingAdmin(session)}</span>}
                  {!assistingAdmin(session) && session.admin_assisted && (
                    <span class="badge assisted">Assisted</span>
                  )}
                  <span class={session.is_active ? 'badge active' : 'badge'}>
                    {session.is_active ? 'active' : 'ended'}
                  </span>
                </td>
                <td>{dateTime(session.start_time)}</td>
                <td>{dateTime(session.last_activity ?? session.last_message_at)}</td>
                <td>
                  {duration(
                    session.duration_ms ??
                      (session.is_active ? Date.now() - Date.parse(session.start_time) : null),
                  )}
                </td>
                <td class="num">{session.message_count}</td>
                <td class="num">{session.total_tokens}</td>
                <td class="num">
                  {Math.round(session.avg_response_ms)} / {Math.round(session.max_response_ms)} ms
                </td>
              </tr>
            ))}
            {page?.items.length === 0 && (
              <tr>
                <td colSpan={COLUMNS.length} class="empty">
                  No sessions match.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager page={query.page} pages={pages} onPage={(to) => onQuery(pageQuery(query, to, page))}>
        <label>
          Per page{' '}
          <select value={String(query.limit)} onChange={(event) => set({ limit: Number(text(event)) })}>
            {[10, 20, 50, 100].map((size) => (
              <option key={size} value={size}>
                {size}
              </option>
            ))}
          </select>
        </label>
      </Pager>
    </section>
  );
}

// A typed filter, committed on change (blur or Enter), and a search box also as one types (after a
// pause). It keeps what is being typed in its own state: a plain controlled input is set back to
// the committed value by every re-render, and the table re-renders on each of its refreshes,
// wiping what the admin was typing.
const SEARCH_DEBOUNCE_MS = 300;

function FilterInput(props: {
  type: 'search' | 'datetime-local';
  value: string;
  placeholder?: string;
  onCommit(value: string): void;
}) {
  const [draft, setDraft] = useState(props.value);
  // a filter set from elsewhere (a click on a user) shows here
  useEffect(() => setDraft(props.value), [props.value]);
  const read = (event: Event) => (event.currentTarget as HTMLInputElement).value;
  const { type, value, onCommit } = props;
  useEffect(() => {
    if (type !== 'search' || draft === value) return;
    const timer = setTimeout(() => onCommit(draft), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [type, draft, value, onCommit]);
  const field = {
    value: draft,
    placeholder: props.placeholder,
    onInput: (event: Event) => setDraft(read(event)),
    onChange: (event: Event) => props.onCommit(read(event)),
  };
  return props.type === 'search' ? (
    <input type="search" {...field} />
  ) : (
    <input type="datetime-local" {...field} />
  );
}

import { useEffect, useState } from 'preact/hooks';
import { apiJson, ApiError } from '../../../shared/api';
import { errorText } from '../../../shared/errors';
import { dateTime } from '../../../shared/format';
import { Icon } from './icons';

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
}

interface Props {
  token: string;
  currentId: string | null;
  onOpen(id: string): void;
  onNew(): void;
  onBack(): void;
}

// The user's sessions, most recent activity first (the server's order; sorted again to be sure).
export function SessionList({ token, currentId, onOpen, onNew, onBack }: Props) {
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    apiJson<SessionSummary[]>('sessions', token).then(
      (list) => setSessions([...list].sort((a, b) => activity(b) - activity(a))),
      (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
    );
  }, [token]);
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
      {sessions?.length === 0 && <p class="empty">No conversations yet.</p>}
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
                {session.admin_assisted && <span class="badge assisted">Admin assisted</span>}
                {session.is_active && <span class="badge active">Active</span>}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function activity(session: SessionSummary): number {
  return Date.parse(session.last_message_at ?? session.start_time ?? '') || 0;
}

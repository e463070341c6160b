import { useEffect, useMemo, useReducer, useState } from 'preact/hooks';
import { ApiError } from '../../shared/api';
import { errorText } from '../../shared/errors';
import type { Frame } from '../../shared/protocol';
import { newClientId } from '../../chat/src/chat-client';
import { ChatStore } from '../../chat/src/chat-store';
import { MessageList } from '../../chat/src/components/message-list';
import {
  addSessionNote,
  cannedResponses,
  sessionDetail,
  sessionNotes,
  type AdminSession,
  type CannedResponse,
  type SessionNote,
  type StoredMessage,
} from './admin-api';
import type { AdminLink } from './admin-link';

interface Props {
  token: string;
  adminName: string;
  session: AdminSession;
  link: AdminLink;
  refreshKey: number;
  // a search hit's message, scrolled to once shown
  focusSeq?: number;
  onClose(): void;
  onChanged(): void;
}

const TRANSCRIPT_LABELS = { user: 'User', ai: 'Assistant', admin: 'Admin', system: '' };

// One session's live transcript; take over → chat as admin over the WebSocket → release.
export function SessionPanel({
  token,
  adminName,
  session,
  link,
  refreshKey,
  focusSeq,
  onClose,
  onChanged,
}: Props) {
  const store = useMemo(() => new ChatStore(), [session.id]);
  const [, redraw] = useReducer((count: number) => count + 1, 0);
  const [holding, setHolding] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [userTyping, setUserTyping] = useState(false);
  const [assistedBy, setAssistedBy] = useState<string | null>(session.assisting_admin_name ?? null);
  const [canned, setCanned] = useState<CannedResponse[]>([]);
  const [notes, setNotes] = useState<SessionNote[]>([]);
  const [note, setNote] = useState('');
  useEffect(() => {
    cannedResponses(token).then(setCanned, () => setCanned([]));
  }, [token]);
  useEffect(() => {
    sessionNotes(token, session.id).then(setNotes, () => setNotes([]));
  }, [token, session.id]);
  // "/greet" in the reply box offers the canned responses whose shortcut starts so
  const slash = /^\/(\S*)$/.exec(text);
  const offered = slash ? canned.filter((item) => item.shortcut.startsWith(slash[1].toLowerCase())) : [];
  const insert = (item: CannedResponse) => setText(item.text);
  const addNote = () => {
    const content = note.trim();
    if (!content) return;
    addSessionNote(token, session.id, content).then(
      (added) => {
        setNotes((list) => [...list, added]);
        setNote('');
      },
      (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
    );
  };

  // the stored transcript (polled while someone else holds the session; live frames add to it)
  useEffect(() => {
    let live = true;
    sessionDetail(token, session.id).then(
      (detail) => {
        if (!live) return;
        store.sessionId = session.id;
        for (const message of detail.messages) store.apply(frameOf(session.id, message));
        setAssistedBy(detail.assisting_admin_name ?? null);
        redraw(0);
      },
      (failure: unknown) => live && setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
    );
    return () => {
      live = false;
    };
  }, [token, session.id, refreshKey, store]);

  useEffect(
    () =>
      link.onFrame((frame: Frame) => {
        if (frame.session_id !== session.id) return;
        if (frame.type === 'typing_indicator')
          setUserTyping(frame.sender === 'user' && frame.metadata?.typing === true);
        if (frame.type === 'error') setError(frame.error?.code ?? 'INTERNAL');
        if (frame.type === 'admin_leave') setHolding(false);
        if (frame.type === 'read' && frame.id) {
          store.markSeen(frame.id, String(frame.metadata?.seen_at ?? ''));
          redraw(0);
        }
        if (frame.type === 'ack' && frame.client_id) store.ack(frame.client_id, frame.id, frame.seq);
        store.sessionId = session.id;
        if (store.apply(frame) || frame.type === 'ack') redraw(0);
      }),
    [link, session.id, store],
  );

  const takeOver = async () => {
    setError(null);
    try {
      const ack = await link.join(session.id);
      setHolding(true);
      setAssistedBy(typeof ack.metadata?.admin_name === 'string' ? ack.metadata.admin_name : adminName);
      onChanged();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : 'INTERNAL');
    }
  };
  const giveBack = async () => {
    setError(null);
    try {
      await link.leave(session.id);
      setHolding(false);
      setAssistedBy(null);
      onChanged();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : 'INTERNAL');
    }
  };
  const send = () => {
    const content = text.trim();
    if (!content) return;
    const clientId = newClientId();
    store.addPending({
      type: 'user_message',
      sender: 'admin',
      content,
      clientId,
      timestamp: new Date().toISOString(),
    });
    link.say(session.id, content, clientId);
    setText('');
    redraw(0);
  };

  return (
    <aside class="panel session-panel" aria-label={`Session ${session.name}`}>
      <div class="panel-head">
        <h2>{session.name || 'Session'}</h2>
        <button type="button" class="button" onClick={onClose}>
          Close
        </button>
      </div>
      <p class="session-meta">
        {session.user_id} · {session.is_active ? 'active' : 'ended'}
        {session.help_requested && <span class="badge help">Help requested</span>}
        {assistedBy && <span class="badge assisted">Assisted by {assistedBy}</span>}
      </p>
      {error && (
        <p class="note error" role="alert">
          {errorText(error)}
        </p>
      )}
      <MessageList
        messages={store.messages}
        loading={false}
        adminTyping={userTyping}
        assistingAdmin={holding ? adminName : (assistedBy ?? undefined)}
        typingLabel="The user"
        focusSeq={focusSeq}
        labels={TRANSCRIPT_LABELS}
        token={token}
        onRetry={() => undefined}
      />
      <div class="takeover">
        {holding ? (
          <>
            {offered.length > 0 && (
              <ul class="canned" aria-label="Canned responses">
                {offered.map((item) => (
                  <li key={item.id}>
                    <button type="button" class="link" onClick={() => insert(item)}>
                      /{item.shortcut} · {item.title}
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <form
              class="admin-composer"
              onSubmit={(event) => {
                event.preventDefault();
                send();
              }}
            >
              <textarea
                rows={2}
                aria-label="Reply as admin"
                placeholder="Reply to the user… (Enter sends, Shift+Enter for a new line)"
                value={text}
                onInput={(event) => {
                  setText((event.currentTarget as HTMLTextAreaElement).value);
                  link.typing(session.id, true);
                }}
                onKeyDown={(event) => {
                  if ((event.key === 'Tab' || event.key === 'Enter') && offered.length > 0) {
                    event.preventDefault();
                    insert(offered[0]);
                    return;
                  }
                  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
                    event.preventDefault();
                    send();
                  }
                }}
              />
              <button type="submit" class="button primary">
                Send
              </button>
            </form>
            <button type="button" class="button" onClick={() => void giveBack()}>
              Release
            </button>
          </>
        ) : (
          <button
            type="button"
            class="button primary"
            onClick={() => void takeOver()}
            disabled={!session.is_active}
          >
            Take over
          </button>
        )}
      </div>
      <section class="notes" aria-label="Internal notes">
        <h3>Internal notes</h3>
        <p class="note">Only admins see these.</p>
        <ul>
          {notes.map((item) => (
            <li key={item.id}>
              <strong>{item.admin_name ?? 'Admin'}</strong>: {item.text}
            </li>
          ))}
        </ul>
        <form
          onSubmit={(event) => {
            event.preventDefault();
            addNote();
          }}
        >
          <input
            aria-label="Add an internal note"
            placeholder="Add a note for admins…"
            value={note}
            onInput={(event) => setNote((event.currentTarget as HTMLInputElement).value)}
          />
          <button type="submit" class="button">
            Add
          </button>
        </form>
      </section>
    </aside>
  );
}

function frameOf(sessionId: string, message: StoredMessage): Frame {
  const metadata = message.type === 'ai_response' ? { ...message.metadata, done: true } : message.metadata;
  return { ...message, session_id: sessionId, metadata };
}

import { useEffect, useMemo, useReducer, useState } from 'preact/hooks';
import { ApiError } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { metaString, type Frame } from '../../shared/protocol';
import { isUnreadable, UNREADABLE_TEXT } from '../../shared/unreadable';
import { newClientId } from '../../chat/src/chat-client';
import { ChatStore, type ChatMessage } from '../../chat/src/chat-store';
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
import { applyPanelFrame } from './panel-frames';
import { assistingAdmin, needsHelp } from './session-flags';
import { TranscriptReads } from './transcript-reads';
import { TypingSignal } from './typing-signal';

interface Props {
  token: string;
  adminName: string;
  session: AdminSession;
  link: AdminLink;
  refreshKey: number;
  // the dashboard's token expired: nothing can be sent until a fresh one comes
  signedOut: boolean;
  // a search hit's message, scrolled to once shown
  focusSeq?: number;
  onClose(): void;
  onChanged(): void;
}

const TRANSCRIPT_LABELS = { user: 'User', ai: 'Assistant', admin: 'Admin', system: '' };
// the panel's own cases; the rest as everywhere else
const PANEL_TEXTS: Record<string, string> = {
  TIMEOUT: 'The server has not answered yet. The takeover may still go through.',
  // the link came back and the server refused to resume the takeover (AdminLink.resumeHold)
  TAKEOVER_LAPSED: 'Your takeover ended while you were offline.',
};
const panelErrorText = (code: string) => PANEL_TEXTS[code] ?? errorText(code);

// One session's live transcript; take over → chat as admin over the WebSocket → release.
export function SessionPanel({
  token,
  adminName,
  session,
  link,
  refreshKey,
  signedOut,
  focusSeq,
  onClose,
  onChanged,
}: Props) {
  const store = useMemo(() => new ChatStore(), [session.id]);
  const [, redraw] = useReducer((count: number) => count + 1, 0);
  // reopening the panel of the session the link holds shows the reply box at once
  const [holding, setHolding] = useState(() => link.holds(session.id));
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [userTyping, setUserTyping] = useState(false);
  const [flags, setFlags] = useState<AdminSession>(session);
  const [assistedBy, setAssistedBy] = useState<string | null>(assistingAdmin(session));
  const typing = useMemo(() => new TypingSignal((on) => link.typing(session.id, on)), [link, session.id]);
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

  // the stored transcript (polled while someone else holds the session, read again at once when the
  // link is back; live frames add to it): transcript-reads.ts
  const reads = useMemo(
    () =>
      new TranscriptReads(
        () => sessionDetail(token, session.id),
        (detail) => {
          store.sessionId = session.id;
          for (const message of detail.messages) store.apply(frameOf(session.id, message));
          setFlags(detail);
          setAssistedBy(assistingAdmin(detail));
        },
        () => redraw(0),
      ),
    [token, session.id, store],
  );
  useEffect(() => {
    void reads.run();
  }, [reads, refreshKey]);
  useEffect(() => {
    const unfollow = reads.follow(link);
    return () => {
      unfollow();
      reads.stop();
    };
  }, [reads, link]);

  useEffect(
    () =>
      link.onFrame((frame: Frame) => {
        const update = applyPanelFrame(store, session.id, frame);
        if (update.userTyping !== undefined) setUserTyping(update.userTyping);
        // the lapse's notice says more than its unsent message's
        const refusal = update.error;
        if (refusal)
          setError((shown) =>
            shown === 'TAKEOVER_LAPSED' && refusal === 'TAKEOVER_ENDED' ? shown : refusal,
          );
        // a message got through: the "sending too quickly" notice is over
        if (update.sent) setError((shown) => (shown === 'RATE_LIMITED' ? null : shown));
        if (update.redraw) redraw(0);
      }),
    [link, session.id, store],
  );
  // the link says whether this session is held: a join's ack (a late one too), an admin_leave
  // (released elsewhere, the lease lapsed), a refusal
  useEffect(
    () =>
      link.onHeld((_, lapsed) => {
        const held = link.holds(session.id);
        setHolding(held);
        if (held) setError((shown) => (shown === 'TIMEOUT' ? null : shown));
        // Until the admin-dashboard audit of session 43 nothing said so, and the message typed
        // offline read "Another admin is already assisting" (1 of 1)
        if (lapsed === session.id) setError('TAKEOVER_LAPSED');
        setAssistedBy((name) => (held ? (name ?? adminName) : null));
      }),
    [link, session.id, adminName],
  );
  useEffect(() => {
    if (!holding || signedOut) typing.stop();
  }, [holding, signedOut, typing]);
  useEffect(() => () => typing.stop(), [typing]);

  const takeOver = async () => {
    setError(null);
    try {
      const ack = await link.join(session.id);
      setAssistedBy(metaString(ack, 'admin_name') ?? adminName);
      onChanged();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : 'INTERNAL');
    }
  };
  const giveBack = async () => {
    setError(null);
    typing.stop();
    try {
      await link.leave(session.id);
      setAssistedBy(null);
      onChanged();
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : 'INTERNAL');
    }
  };
  const send = () => {
    const content = text.trim();
    if (!content || signedOut) return;
    typing.stop();
    const clientId = newClientId();
    // named as the server stores it: until the admin-dashboard audit of session 43 an unsent one was
    // labelled with the name of whoever assisted the session next (1 of 1; author-label.ts)
    store.addPending({
      type: 'user_message',
      sender: 'admin',
      content,
      clientId,
      timestamp: new Date().toISOString(),
      metadata: { admin_name: adminName },
    });
    link.say(session.id, content, clientId);
    setText('');
    redraw(0);
  };
  // a refused message (sent too quickly, say) goes again with its client_id, as first sent
  const retry = (message: ChatMessage) => {
    if (!message.clientId || !holding || signedOut) return;
    message.failed = undefined;
    if (!link.socket.retry(message.clientId)) link.say(session.id, message.content, message.clientId);
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
        {needsHelp(flags) && <span class="badge help">Help requested</span>}
        {assistedBy && <span class="badge assisted">Assisted by {assistedBy}</span>}
      </p>
      {(error ?? reads.failure) && (
        <p class="note error" role="alert">
          {panelErrorText(error ?? reads.failure ?? 'INTERNAL')}
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
        onRetry={retry}
      />
      <div class="takeover">
        {signedOut && <p class="note">Sign in again to reply or take over.</p>}
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
                disabled={signedOut}
                onInput={(event) => {
                  const value = (event.currentTarget as HTMLTextAreaElement).value;
                  setText(value);
                  typing.input(value);
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
              <button type="submit" class="button primary" disabled={signedOut}>
                Send
              </button>
            </form>
            <button type="button" class="button" onClick={() => void giveBack()} disabled={signedOut}>
              Release
            </button>
          </>
        ) : (
          <button
            type="button"
            class="button primary"
            onClick={() => void takeOver()}
            disabled={!session.is_active || signedOut}
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
              <strong>{item.admin_name ?? 'Admin'}</strong>:{' '}
              {isUnreadable(item) ? <em class="unreadable">{UNREADABLE_TEXT}</em> : item.text}
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

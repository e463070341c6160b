import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, tokenClaims } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { listSessions, sessionDetail, type AdminSession, type SessionQuery } from './admin-api';
import { sessionFromAddress } from './address-session';
import { AdminSearch, type AdminSearchHit } from './admin-search';
import { CannedPanel } from './canned-panel';
import { AdminLink } from './admin-link';
import { watchAddressToken, watchExpiry } from './admin-token';
import { MetricsPanel } from './metrics-panel';
import { RoomsSection } from './rooms-section';
import { SessionPanel } from './session-panel';
import { SessionsTable } from './sessions-table';

type Access = { kind: 'checking' } | { kind: 'ok' } | { kind: 'refused'; code: string };

const INITIAL_QUERY: SessionQuery = {
  status: '',
  admin_assisted: '',
  help_requested: '',
  sort: 'last_activity',
  order: 'desc',
  page: 1,
  limit: 20,
};

export function App({ token: first }: { token: string | null }) {
  // a fresh token pasted into this tab's address replaces an expired one, without a reload
  const [token, setToken] = useState(first);
  useEffect(() => watchAddressToken(window, setToken), []);
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  useEffect(() => {
    if (!token) return setAccess({ kind: 'refused', code: 'UNAUTHORIZED' });
    // the server decides who is an admin: one cheap admin call tells
    listSessions(token, { ...INITIAL_QUERY, limit: 1 }).then(
      () => setAccess({ kind: 'ok' }),
      (failure: unknown) =>
        setAccess({ kind: 'refused', code: failure instanceof ApiError ? failure.code : 'INTERNAL' }),
    );
  }, [token]);
  if (access.kind === 'checking') return <p class="center">Checking access…</p>;
  if (access.kind === 'refused' || !token)
    return <Refusal code={access.kind === 'refused' ? access.code : 'UNAUTHORIZED'} />;
  return <Dashboard token={token} />;
}

function Refusal({ code }: { code: string }) {
  const forbidden = code === 'FORBIDDEN';
  return (
    <main class="center refusal" data-testid="refusal" aria-live="assertive">
      <h1>{forbidden ? 'Admins only' : 'Sign-in needed'}</h1>
      <p>
        {forbidden
          ? 'This dashboard is for chat admins. Your account does not have an admin role.'
          : code === 'UNAUTHORIZED'
            ? 'Open the dashboard with a valid admin token (#token=…).'
            : errorText(code)}
      </p>
    </main>
  );
}

function Dashboard({ token }: { token: string }) {
  const claims = useMemo(() => tokenClaims(token), [token]);
  const adminName = claims.name ?? claims.sub ?? 'Admin';
  // one link for the page: a fresh token renews it, keeping the session it holds
  const [link] = useState(() => new AdminLink(token));
  const [expired, setExpired] = useState(false);
  useEffect(() => {
    setExpired(false);
    link.renew(token);
    return watchExpiry(token, () => setExpired(true));
  }, [link, token]);
  const [query, setQuery] = useState<SessionQuery>(INITIAL_QUERY);
  const [intervalMs, setIntervalMs] = useState(5000);
  const [tick, setTick] = useState(0);
  const [open, setOpen] = useState<AdminSession | null>(null);
  const [focusSeq, setFocusSeq] = useState<number | undefined>(undefined);
  // a search hit: the session opens at that message
  const openHit = (hit: AdminSearchHit) => {
    sessionDetail(token, hit.session_id).then(
      (detail) => {
        setFocusSeq(hit.seq);
        setOpen(detail);
      },
      () => undefined,
    );
  };
  // an alert's link (?session=<id>) opens that session; the list stays behind it
  useEffect(() => {
    const named = sessionFromAddress(window.location.search);
    if (named) sessionDetail(token, named).then(setOpen, () => undefined);
  }, []);
  const [linkState, setLinkState] = useState(link.socket.state.kind);
  const [section, setSection] = useState<'sessions' | 'rooms'>('sessions');
  // the token expired, or the server closed the link for it: nothing can be sent until a fresh one
  const signedOut = expired || linkState === 'signed_out';

  useEffect(() => {
    const unsubscribe = link.onState((state) => setLinkState(state.kind));
    // the link may have connected between the first render and this subscription
    setLinkState(link.socket.state.kind);
    return unsubscribe;
  }, [link]);
  useEffect(() => () => link.socket.stop(), [link]);
  useEffect(() => {
    if (!intervalMs) return;
    const timer = setInterval(() => setTick((value) => value + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);

  return (
    <div class="dashboard">
      <header class="bar">
        <h1>chatbox admin</h1>
        <div class="sections" role="tablist" aria-label="Section">
          {(['sessions', 'rooms'] as const).map((name) => (
            <button
              key={name}
              type="button"
              role="tab"
              class="button"
              aria-selected={section === name}
              onClick={() => setSection(name)}
            >
              {name === 'sessions' ? 'Sessions' : 'Rooms'}
            </button>
          ))}
        </div>
        <span class={`link-state ${linkState}`} data-testid="admin-link">
          {linkState}
        </span>
        <label>
          Refresh{' '}
          <select
            value={String(intervalMs)}
            aria-label="Refresh interval"
            onChange={(event) => setIntervalMs(Number((event.currentTarget as HTMLSelectElement).value))}
          >
            <option value="2000">2 s</option>
            <option value="5000">5 s</option>
            <option value="15000">15 s</option>
            <option value="60000">1 min</option>
            <option value="0">off</option>
          </select>
        </label>
        <button type="button" class="button" onClick={() => setTick((value) => value + 1)}>
          Refresh now
        </button>
        <span class="who">{adminName}</span>
      </header>
      {signedOut && (
        <p class="note error signed-out" role="alert" data-testid="signed-out">
          Your admin sign-in has expired. Sign in again: open this dashboard with a fresh token
          (/admin/#token=…) in this tab. Replies are paused until then.
        </p>
      )}
      {section === 'rooms' && <RoomsSection token={token} refreshKey={tick} />}
      <div class={open ? 'layout with-panel' : 'layout'} hidden={section !== 'sessions'}>
        <div class="main-column">
          <AdminSearch token={token} onOpen={openHit} />
          <SessionsTable
            token={token}
            query={query}
            refreshKey={tick}
            selectedId={open?.id ?? null}
            onQuery={setQuery}
            onOpen={(session) => {
              setFocusSeq(undefined);
              setOpen(session);
            }}
          />
          <MetricsPanel token={token} refreshKey={tick} />
          <CannedPanel token={token} />
        </div>
        {open && (
          <SessionPanel
            key={open.id}
            token={token}
            adminName={adminName}
            session={open}
            link={link}
            refreshKey={tick}
            signedOut={signedOut}
            focusSeq={focusSeq}
            onClose={() => setOpen(null)}
            onChanged={() => setTick((value) => value + 1)}
          />
        )}
      </div>
    </div>
  );
}

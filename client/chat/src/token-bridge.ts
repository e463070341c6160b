import { isRecord } from '../../shared/protocol';

// Talks to the app that embeds the chat (iframe parent or React Native webview) about the JWT.
// Format, documented for parent apps in client/README.md:
//   chat → parent  {source:'chatbox', type:'chatbox:ready'}
//                  {source:'chatbox', type:'chatbox:token_request', reason, expires_at?}
//                  {source:'chatbox', type:'chatbox:signed_out'}
//                  {source:'chatbox', type:'chatbox:connected', session_id}
//                  {source:'chatbox', type:'chatbox:unread', count}
//                  {source:'chatbox', type:'chatbox:help_requested', session_id}
//                  {source:'chatbox', type:'chatbox:error', code, message, recoverable}
//   parent → chat  {type:'chatbox:token', token:'<jwt>'}   (an object, or the same as a JSON string)
//                  {type:'chatbox:open'} | {type:'chatbox:close'} | {type:'chatbox:set_session', session_id}
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN_LENGTH = 8192;

export type TokenRequestReason = 'initial' | 'expiring' | 'expired';

export function isJwtShaped(token: unknown): token is string {
  return typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH && JWT_SHAPE.test(token);
}

// A token from a parent message, or null for anything else (other apps' messages included).
export function tokenFromMessage(data: unknown): string | null {
  let value = data;
  if (typeof value === 'string') {
    if (value.length > MAX_TOKEN_LENGTH * 2) return null;
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!isRecord(value) || value.type !== 'chatbox:token') return null;
  return isJwtShaped(value.token) ? value.token : null;
}

export type HostCommand =
  { type: 'chatbox:open' } | { type: 'chatbox:close' } | { type: 'chatbox:set_session'; session_id: string };

const SESSION_ID_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;

// A command from the parent (open, close, set_session), or null for anything else.
export function commandFromMessage(data: unknown): HostCommand | null {
  let value = data;
  if (typeof value === 'string') {
    if (value.length > 1024) return null;
    try {
      value = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!isRecord(value)) return null;
  if (value.type === 'chatbox:open' || value.type === 'chatbox:close') return { type: value.type };
  if (value.type === 'chatbox:set_session' && typeof value.session_id === 'string')
    return SESSION_ID_SHAPE.test(value.session_id)
      ? { type: 'chatbox:set_session', session_id: value.session_id }
      : null;
  return null;
}

// The session the chat opens first (the SDK's `sessionId`: ?session_id=), when it is an id.
export function sessionIdFromLocation(location: { hash: string; search: string }): string | null {
  const sessionId = locationParam(location, 'session_id');
  return sessionId !== null && SESSION_ID_SHAPE.test(sessionId) ? sessionId : null;
}

function locationParam(location: { hash: string; search: string }, name: string): string | null {
  return (
    new URLSearchParams(location.search).get(name) ?? new URLSearchParams(location.hash.slice(1)).get(name)
  );
}

// parent_origin as an origin (`HTTPS://App/` is https://app); null for `null` (an opaque origin:
// about:blank, sandboxed, file:, capacitor:) or anything that is no http(s) origin: not pinned.
function originOf(value: string | null): string | null {
  if (!value) return null;
  try {
    const origin = new URL(value).origin;
    return /^https?:\/\//.test(origin) ? origin : null;
  } catch {
    return null;
  }
}

export function tokenFromLocation(location: { hash: string; search: string }): string | null {
  for (const part of [location.hash.slice(1), location.search.slice(1)]) {
    const token = new URLSearchParams(part).get('token');
    if (isJwtShaped(token)) return token;
  }
  return null;
}

const STORED_TOKEN = 'chatbox:token';

// Reads the token from the address, then takes it out of the address bar (history, bookmarks and
// screen shares never show it); other parameters (parent_origin) stay. The tab keeps it in
// sessionStorage so a reload of the page still signs in (a stale one is refused and a new one asked
// for). Only a reload: a new visit of the address without a token is the host's to sign in (a
// token_request). Until the embed audit of session 41 a webview that had opened the chat with
// Alice's token and then loaded it for Bob signed Bob in as Alice without asking the app, and showed
// him her conversation (3 of 3 runs).
export function takeTokenFromLocation(
  win: Pick<Window, 'location' | 'history' | 'sessionStorage'> & { performance?: NavigationTimes },
): string | null {
  const token = tokenFromLocation(win.location);
  if (token === null) {
    const stored = readStored(win);
    if (!reloaded(win)) {
      forgetStoredToken(win);
      return null;
    }
    return isJwtShaped(stored) ? stored : null;
  }
  try {
    win.sessionStorage.setItem(STORED_TOKEN, token);
  } catch {
    // storage refused (privacy mode): a reload then needs a new token
  }
  const url = new URL(win.location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  hash.delete('token');
  url.searchParams.delete('token');
  url.hash = hash.toString();
  win.history.replaceState(win.history.state, '', url.toString());
  return token;
}

type NavigationTimes = Pick<Performance, 'getEntriesByType'>;

// Whether this document came from a reload of the page (Navigation Timing); false where unknown.
function reloaded(win: { performance?: NavigationTimes }): boolean {
  try {
    const [entry] = win.performance?.getEntriesByType('navigation') ?? [];
    return (entry as { type?: string } | undefined)?.type === 'reload';
  } catch {
    return false;
  }
}

// The kept token is dropped once the host hands one over: a later reload asks the host again.
export function forgetStoredToken(win: Pick<Window, 'sessionStorage'>): void {
  try {
    win.sessionStorage.removeItem(STORED_TOKEN);
  } catch {
    // storage refused: nothing kept
  }
}

function readStored(win: Pick<Window, 'sessionStorage'>): string | null {
  try {
    return win.sessionStorage.getItem(STORED_TOKEN);
  } catch {
    return null;
  }
}

interface NativeBridge {
  postMessage(message: string): void;
}

export class TokenBridge {
  private listeners: Array<(token: string) => void> = [];
  private commandListeners: Array<(command: HostCommand) => void> = [];
  private readonly parentOrigin: string | null;

  constructor(private readonly win: Window & { ReactNativeWebView?: NativeBridge } = window) {
    // ?parent_origin= pins which origin may hand us tokens (and receives our requests)
    this.parentOrigin = originOf(locationParam(win.location, 'parent_origin'));
    const onMessage = (event: Event) => this.onMessage(event as MessageEvent);
    win.addEventListener('message', onMessage);
    // React Native's WebView.postMessage dispatches on document in some versions
    win.document.addEventListener('message', onMessage);
  }

  get embedded(): boolean {
    return this.win.parent !== this.win || this.win.ReactNativeWebView !== undefined;
  }

  onToken(listener: (token: string) => void): void {
    this.listeners.push(listener);
  }

  onCommand(listener: (command: HostCommand) => void): void {
    this.commandListeners.push(listener);
  }

  post(message: Record<string, unknown>): void {
    const full = { source: 'chatbox', ...message };
    // a host that cannot take the message must not stop the chat (start() posts before connecting)
    try {
      if (this.win.ReactNativeWebView) this.win.ReactNativeWebView.postMessage(JSON.stringify(full));
    } catch {
      // the native side is gone
    }
    try {
      // a request carries no secret, so '*' is safe when no parent origin was pinned; a pinned one is
      // the only address
      if (this.win.parent !== this.win) this.win.parent.postMessage(full, this.parentOrigin ?? '*');
    } catch {
      // the parent refused it (a detached frame)
    }
  }

  request(reason: TokenRequestReason, expiresAt?: string): void {
    this.post({ type: 'chatbox:token_request', reason, ...(expiresAt ? { expires_at: expiresAt } : {}) });
  }

  private onMessage(event: MessageEvent): void {
    // native apps inject `window.postMessage(…)` (source = this window) or dispatch without a source
    const fromNative =
      this.win.ReactNativeWebView !== undefined && (event.source === null || event.source === this.win);
    const fromParent = event.source === this.win.parent && this.win.parent !== this.win;
    if (!fromNative && !fromParent) return;
    if (this.parentOrigin && !fromNative && event.origin !== this.parentOrigin) return;
    const token = tokenFromMessage(event.data);
    if (token) {
      // the host's token stands from now on, not one the address brought (takeTokenFromLocation)
      forgetStoredToken(this.win);
      for (const listener of this.listeners) listener(token);
    }
    const command = token ? null : commandFromMessage(event.data);
    if (command) for (const listener of this.commandListeners) listener(command);
  }
}

/*
 * chatbox embed SDK for parent web apps: mounts the chat in an iframe, hands it the user's JWT
 * whenever it asks (first load, before expiry), and reports what happens in it. Built by
 * `npm run build:client` into /chat/chatbox-embed.mjs (ES module) and /chat/chatbox-embed.js
 * (script tag, global `ChatboxEmbed`); docs/embedding.md has the whole guide.
 *
 *   <div id="chat" style="height: 600px"></div>
 *   <script src="https://chat.example.com/chat/chatbox-embed.js"></script>
 *   <script>
 *     const chat = ChatboxEmbed.mount(document.getElementById('chat'), {
 *       baseUrl: 'https://chat.example.com',
 *       // your backend signs a short-lived JWT for the signed-in user
 *       getToken: () => fetch('/api/chatbox-token', { credentials: 'include' }).then((r) => r.text()),
 *     });
 *     chat.on('unread', ({ count }) => updateBadge(count));
 *   </script>
 */

export type TokenReason = 'initial' | 'expiring' | 'expired' | 'parent';

export interface MountOptions {
  // where chatbox is served (https://chat.example.com; the chat is its /chat/ page) …
  baseUrl?: string;
  // … or the chat page's own URL, used as it is (behind a proxy prefix)
  chatUrl?: string;
  getToken: (reason: TokenReason) => string | Promise<string>;
  // resume this session of the user's instead of the active one
  sessionId?: string;
  // the iframe's accessible title
  title?: string;
  // start closed (hidden): replies then count as unread until open()
  open?: boolean;
}

export interface ChatboxEvents {
  // the chat page loaded (it asks for a token next)
  ready: Record<string, never>;
  // the socket is up (again) on this session
  connected: { sessionId: string | null };
  // replies and admin messages that arrived while closed; 0 after open()
  unread: { count: number };
  // the user asked for a human; admins were alerted
  help_requested: { sessionId: string | null };
  // an error the chat showed (code as in the protocol), or TOKEN_UNAVAILABLE when getToken failed
  error: { code: string; message: string; recoverable: boolean };
  // the chat has no valid token and is waiting for one
  signed_out: Record<string, never>;
}

export type ChatboxEventName = keyof ChatboxEvents;

export interface ChatboxEmbed {
  readonly iframe: HTMLIFrameElement;
  on<E extends ChatboxEventName>(event: E, handler: (detail: ChatboxEvents[E]) => void): () => void;
  open(): void;
  close(): void;
  readonly isOpen: boolean;
  setSession(sessionId: string): void;
  // push a fresh token without being asked (e.g. right after the user signed in again)
  refreshToken(): Promise<void>;
  destroy(): void;
  // the 0.x snippet's name for refreshToken
  refresh(): Promise<void>;
}

// The 0.x snippet's options: ChatboxEmbed.mount({ container, chatUrl, getToken, onEvent, onError }).
export interface LegacyMountOptions {
  container: HTMLElement;
  chatUrl: string;
  getToken: (reason: TokenReason) => string | Promise<string>;
  title?: string;
  onEvent?: (data: Record<string, unknown>) => void;
  onError?: (error: unknown) => void;
}

type Handler = (detail: unknown) => void;

// `pageOrigin`: the page's own origin (window.origin), which differs from its address's in a
// sandboxed iframe ('null') or an about:blank one (its opener's).
export function chatUrlOf(
  where: { baseUrl?: string; chatUrl?: string },
  pageUrl: string,
  sessionId?: string,
  pageOrigin: string = new URL(pageUrl).origin,
): URL {
  const url = new URL((where.chatUrl ?? where.baseUrl) as string, pageUrl);
  if (!where.chatUrl) url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/`;
  // the chat only accepts tokens (and commands) from this page's origin; an opaque one ('null':
  // sandboxed, file:, capacitor:) names no page, and the chat could not address it: left out
  if (/^https?:\/\//.test(pageOrigin)) url.searchParams.set('parent_origin', pageOrigin);
  if (sessionId) url.searchParams.set('session_id', sessionId);
  return url;
}

export function mount(element: HTMLElement, options: MountOptions): ChatboxEmbed;
export function mount(options: LegacyMountOptions): ChatboxEmbed;
export function mount(target: HTMLElement | LegacyMountOptions, maybeOptions?: MountOptions): ChatboxEmbed {
  if (!(target instanceof HTMLElement)) return mountLegacy(target);
  const [element, options] = [target, maybeOptions];
  if (!options || !(options.baseUrl || options.chatUrl) || typeof options.getToken !== 'function')
    throw new Error('ChatboxEmbed.mount(element, { baseUrl, getToken }) needs both');
  const url = chatUrlOf(options, window.location.href, options.sessionId, window.origin);
  const chatOrigin = url.origin;
  const handlers = new Map<string, Set<Handler>>();
  const emit = (event: ChatboxEventName, detail: unknown) => {
    for (const handler of handlers.get(event) ?? []) handler(detail);
  };

  const frame = document.createElement('iframe');
  frame.src = url.toString();
  frame.title = options.title ?? 'Chat';
  frame.allow = 'microphone; camera; clipboard-write';
  Object.assign(frame.style, { border: '0', width: '100%', height: '100%' });
  element.appendChild(frame);

  let isOpen = options.open !== false;
  const post = (message: Record<string, unknown>) => frame.contentWindow?.postMessage(message, chatOrigin);
  const applyOpen = () => {
    frame.style.display = isOpen ? '' : 'none';
    post({ type: isOpen ? 'chatbox:open' : 'chatbox:close' });
  };
  if (!isOpen) frame.style.display = 'none';

  // one getToken at a time: the chat may ask again while the first answer is on its way
  let inFlight: Promise<void> | null = null;
  const sendToken = (reason: TokenReason): Promise<void> => {
    inFlight ??= Promise.resolve()
      .then(() => options.getToken(reason))
      .then((token) => {
        if (token) post({ type: 'chatbox:token', token: String(token).trim() });
      })
      .catch((error: unknown) =>
        emit('error', {
          code: 'TOKEN_UNAVAILABLE',
          message: error instanceof Error ? error.message : String(error),
          recoverable: true,
        }),
      )
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };

  const onMessage = (event: MessageEvent) => {
    if (event.source !== frame.contentWindow || event.origin !== chatOrigin) return;
    const data = event.data as Record<string, unknown> | null;
    if (!data || typeof data !== 'object' || data.source !== 'chatbox' || typeof data.type !== 'string')
      return;
    const sessionId = typeof data.session_id === 'string' ? data.session_id : null;
    switch (data.type) {
      case 'chatbox:ready':
        // a closed chat is told so before its first reply can arrive
        if (!isOpen) post({ type: 'chatbox:close' });
        return emit('ready', {});
      case 'chatbox:token_request':
        void sendToken((data.reason as TokenReason) ?? 'initial');
        return;
      case 'chatbox:connected':
        return emit('connected', { sessionId });
      case 'chatbox:unread':
        return emit('unread', { count: Number(data.count) || 0 });
      case 'chatbox:help_requested':
        return emit('help_requested', { sessionId });
      case 'chatbox:error':
        return emit('error', {
          code: String(data.code ?? 'INTERNAL'),
          message: String(data.message ?? ''),
          recoverable: data.recoverable !== false,
        });
      case 'chatbox:signed_out':
        return emit('signed_out', {});
    }
  };
  window.addEventListener('message', onMessage);

  return {
    iframe: frame,
    on(event, handler) {
      const set = handlers.get(event) ?? new Set<Handler>();
      handlers.set(event, set);
      set.add(handler as Handler);
      return () => set.delete(handler as Handler);
    },
    open() {
      isOpen = true;
      applyOpen();
    },
    close() {
      isOpen = false;
      applyOpen();
    },
    get isOpen() {
      return isOpen;
    },
    setSession(sessionId: string) {
      post({ type: 'chatbox:set_session', session_id: sessionId });
    },
    refreshToken: () => sendToken('parent'),
    refresh: () => sendToken('parent'),
    destroy() {
      window.removeEventListener('message', onMessage);
      handlers.clear();
      frame.remove();
    },
  };
}

// The 0.x snippet's API on top of the SDK: onEvent gets every raw chatbox message.
function mountLegacy(options: LegacyMountOptions): ChatboxEmbed {
  if (!options || !options.container || !options.chatUrl || typeof options.getToken !== 'function')
    throw new Error('ChatboxEmbed.mount needs { container, chatUrl, getToken }');
  const embed = mount(options.container, {
    chatUrl: options.chatUrl,
    getToken: options.getToken,
    title: options.title,
  });
  if (options.onError) {
    const onError = options.onError;
    embed.on('error', (detail) => {
      if (detail.code === 'TOKEN_UNAVAILABLE') onError(new Error(detail.message));
    });
  }
  if (options.onEvent) {
    const onEvent = options.onEvent;
    const listener = (event: MessageEvent) => {
      const data = event.data as Record<string, unknown> | null;
      if (event.source === embed.iframe.contentWindow && data?.source === 'chatbox') onEvent(data);
    };
    window.addEventListener('message', listener);
    const destroy = embed.destroy;
    embed.destroy = () => {
      window.removeEventListener('message', listener);
      destroy();
    };
  }
  return embed;
}

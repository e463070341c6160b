import { ApiError, apiJson, tokenClaims } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { metaString, parseModels, type Frame, type ModelInfo } from '../../shared/protocol';
import { ChatSocket, type LinkState } from './chat-socket';
import { ChatStore, isStoredEvent, type ChatMessage } from './chat-store';
import { backoffDelay } from './backoff';
import { refreshDelay, tokenExpiry } from './token-clock';
import { sessionIdFromLocation, TokenBridge } from './token-bridge';
import { versionRoot } from '../../../src/protocol/thread';
import { uploadFile, type UploadedFile } from './uploads';
import { toUnsentEntry, UnsentQueue, unsentKey, type UnsentEntry, type UnsentOwner } from './unsent-queue';

export const DEFAULT_MAX_LENGTH = 4096;
// asks for a token, while none in hand works, before the parent is told with an error
export const TOKEN_ASKS_BEFORE_ERROR = 5;
const REFUSED_TOKENS_KEPT = 8;
const GAP_RESYNC_MIN_INTERVAL_MS = 5_000;
const CSAT_ASK_WITHIN_MS = 10 * 60_000;

export interface Notice {
  code: string;
  text: string;
}

export interface ChatView {
  token: string | null;
  link: LinkState;
  sessionId: string | null;
  sessionName: string;
  models: ModelInfo[];
  modelId: string | undefined;
  assistingAdmin: string | undefined;
  loading: boolean;
  adminTyping: boolean;
  helpRequested: boolean;
  notice: Notice | null;
  messages: ChatMessage[];
  maxLength: number;
  upload: { name: string; progress: number } | null;
  // a search hit's message, scrolled to once shown
  focusSeq?: number;
  // a takeover just ended: the user is asked to rate it (CSAT)
  csat?: { adminName: string };
}

// Everything the chat page does, without the DOM: the components render `view` and call actions.
export class ChatClient {
  readonly store = new ChatStore();
  readonly socket: ChatSocket;
  readonly bridge = new TokenBridge();
  private token: string | null;
  private tokenArrivedAt = Date.now();
  // the token before the parent's last one, while that one is untried: kept if the new one is refused
  private previousToken: { token: string; arrivedAt: number } | null = null;
  // tokens the server refused: handed again (a parent's cache), they are not tried again
  private refusedTokens: string[] = [];
  private listeners = new Set<() => void>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  // the token the refresh timer is for, and the `expiring` asks in a row that got a short one back
  private refreshFor: string | null = null;
  private shortRefreshes = 0;
  // the `exp` of the token the last refresh asked to replace
  private refreshedExp: number | undefined;
  // `expired` asks while no token works (askForToken)
  private askTimer: ReturnType<typeof setTimeout> | undefined;
  private tokenAsks = 0;
  private nextAskAt = 0;
  // the session `chatbox:connected` was posted for on this connection (undefined: none yet)
  private announced: string | null | undefined;
  private lastResync = 0;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private wantSession: string | null = null;
  // the parent's open/close (SDK): replies that arrive while closed count as unread
  private open = true;
  private unread = 0;
  // the session's seq at the page's first connection_status to it: what is at or below it is history
  private unreadFloor: { sessionId: string | null; seq: number } = { sessionId: null, seq: 0 };
  // admin messages shown while the chat was closed or hidden: their read receipts wait
  private unseen: string[] = [];
  private helpClientId: string | undefined;
  private readonly unsent = new UnsentQueue();
  // the unsent queue read back from storage last (user and session): none is written before it is read
  private restoredKey: string | null = null;
  private view: Omit<ChatView, 'messages' | 'link' | 'token' | 'sessionId'> = {
    sessionName: 'Chat',
    models: [],
    modelId: undefined,
    assistingAdmin: undefined,
    loading: false,
    adminTyping: false,
    helpRequested: false,
    notice: null,
    maxLength: DEFAULT_MAX_LENGTH,
    upload: null,
  };

  constructor(initialToken: string | null) {
    this.token = initialToken;
    this.socket = new ChatSocket({
      token: () => this.token,
      resumeFrom: () => {
        const sessionId = this.wantSession ?? this.store.sessionId;
        return sessionId ? { sessionId, lastSeq: this.store.lastSeq } : null;
      },
      onFrame: (frame) => this.onFrame(frame),
      onState: (state) => {
        // a reply that was loading will show up on replay; the dots would only mislead meanwhile
        if (state.kind !== 'connected') this.view.loading = false;
        // a real drop: the next connection_status is a reconnection the parent hears of
        if (state.kind !== 'connected' && state.kind !== 'connecting') this.announced = undefined;
        this.changed();
      },
      onUnauthorized: (refused) => this.onRefused(refused),
      onSessionGone: () => {
        this.wantSession = null;
        this.store.reset(null);
      },
      onUnsentChange: () => this.saveUnsent(),
    });
    // the SDK's `sessionId` (?session_id=): opened instead of the active one (4404 falls back to it)
    const initialSession = sessionIdFromLocation(window.location);
    if (initialSession) {
      this.wantSession = initialSession;
      this.store.reset(initialSession);
    }
    this.bridge.onToken((token) => this.useToken(token));
    this.bridge.onCommand((command) => {
      if (command.type === 'chatbox:set_session') return this.openSession(command.session_id);
      this.open = command.type === 'chatbox:open';
      if (this.open && this.unread > 0) this.setUnread(0);
      this.sendReceipts();
    });
    document.addEventListener('visibilitychange', () => this.sendReceipts());
  }

  start(): void {
    this.bridge.post({ type: 'chatbox:ready' });
    if (this.token) this.socket.connect();
    else this.bridge.request('initial');
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get snapshot(): ChatView {
    return {
      ...this.view,
      token: this.token,
      link: this.socket.state,
      sessionId: this.store.sessionId,
      messages: this.store.messages,
    };
  }

  get currentToken(): string | null {
    return this.token;
  }

  // ---- actions ----

  sendText(text: string): void {
    const content = text.trim();
    if (!content) return;
    if ([...content].length > this.view.maxLength) return this.notify('MESSAGE_TOO_LONG');
    const clientId = newClientId();
    this.store.addPending({
      type: 'user_message',
      sender: 'user',
      content,
      clientId,
      timestamp: new Date().toISOString(),
    });
    this.socket.send({ type: 'user_message', client_id: clientId, content });
    this.changed();
  }

  retry(message: ChatMessage): void {
    if (!message.clientId) return;
    message.failed = undefined;
    // as it was first sent (a file's id, an edit's target); rebuilt from the screen only when that is
    // no longer kept
    if (!this.socket.retry(message.clientId))
      this.socket.send({ type: message.type, client_id: message.clientId, content: message.content });
    this.changed();
  }

  // another answer to the last turn, by this or another model; shown as an alternative (2/2)
  regenerate(modelId?: string): void {
    const frame: Record<string, unknown> = { type: 'regenerate', client_id: newClientId() };
    if (modelId) frame.model_id = modelId;
    this.socket.send(frame);
  }

  // which alternative of a turn the conversation goes on from (stored, so every device agrees)
  selectReply(replyId: string): void {
    const clientId = newClientId();
    this.store.addPending({
      type: 'reply_select',
      sender: 'user',
      content: '',
      clientId,
      metadata: { reply_id: replyId },
    });
    this.socket.send({ type: 'reply_select', client_id: clientId, id: replyId });
    this.changed();
  }

  // a new version of the last message, answered again; the earlier one stays viewable
  edit(message: ChatMessage, text: string): void {
    const content = text.trim();
    if (!content || !message.id || content === message.content) return;
    const clientId = newClientId();
    this.store.addPending({
      type: 'user_message',
      sender: 'user',
      content,
      clientId,
      timestamp: new Date().toISOString(),
      metadata: { edit_of: versionRoot({ id: message.id, type: message.type, metadata: message.metadata }) },
    });
    this.socket.send({ type: 'edit_message', client_id: clientId, id: message.id, content });
    this.changed();
  }

  // thumbs up/down on a reply (REST), shown at once; the server tells the other devices
  feedback(message: ChatMessage, rating: 'up' | 'down'): void {
    if (!message.id || !this.token || !this.store.sessionId) return;
    this.store.rate(message.id, rating);
    this.changed();
    const path = `sessions/${encodeURIComponent(this.store.sessionId)}/messages/${encodeURIComponent(message.id)}/feedback`;
    apiJson(path, this.token, { method: 'PUT', body: { rating } }).catch((error: unknown) =>
      this.notify(error instanceof ApiError ? error.code : 'INTERNAL'),
    );
  }

  // CSAT: 1-5 and an optional comment for the takeover that just ended
  rateTakeover(rating: number, comment: string): void {
    const sessionId = this.store.sessionId;
    this.view.csat = undefined;
    this.changed();
    if (!this.token || !sessionId) return;
    const body: Record<string, unknown> = { rating };
    if (comment.trim()) body.comment = comment.trim();
    apiJson(`sessions/${encodeURIComponent(sessionId)}/csat`, this.token, { method: 'POST', body }).catch(
      (error: unknown) => this.notify(error instanceof ApiError ? error.code : 'INTERNAL'),
    );
  }

  dismissCsat(): void {
    this.view.csat = undefined;
    this.changed();
  }

  stop(): void {
    this.socket.send({ type: 'stop_generation' });
  }

  selectModel(modelId: string): void {
    this.socket.send({ type: 'model_select', model_id: modelId, client_id: newClientId() });
  }

  requestHelp(reason = ''): void {
    const clientId = newClientId();
    const frame: Record<string, unknown> = { type: 'help_request', client_id: clientId };
    if (reason.trim()) frame.content = reason.trim();
    // shown at once, and its ack's seq keeps the thread's count of stored events exact
    this.store.addPending({
      type: 'help_request',
      sender: 'system',
      content: 'Help requested',
      clientId,
      timestamp: new Date().toISOString(),
    });
    this.socket.send(frame);
    this.helpClientId = clientId;
    this.view.helpRequested = true;
    this.changed();
  }

  typing(typing: boolean): void {
    if (this.view.assistingAdmin) this.socket.send({ type: 'typing_indicator', metadata: { typing } });
  }

  newChat(): void {
    this.wantSession = null;
    this.socket.send({ type: 'new_session', client_id: newClientId() });
  }

  openSession(sessionId: string, focusSeq?: number): void {
    this.view.focusSeq = focusSeq;
    if (sessionId === this.store.sessionId) return this.changed();
    this.wantSession = sessionId;
    this.store.reset(sessionId);
    this.socket.clearUnacked();
    this.view.assistingAdmin = undefined;
    this.view.loading = false;
    this.changed();
    this.socket.restart();
  }

  dismissNotice(): void {
    this.view.notice = null;
    this.changed();
  }

  // Uploads a file (progress shown), then sends it as a file or voice message.
  async sendFile(file: File, kind: 'file_upload' | 'voice_message', caption = ''): Promise<void> {
    if (!this.token) return;
    this.view.upload = { name: file.name, progress: 0 };
    this.changed();
    let uploaded: UploadedFile;
    try {
      uploaded = await uploadFile(file, this.token, (progress) => {
        this.view.upload = { name: file.name, progress };
        this.changed();
      });
    } catch (error) {
      this.view.upload = null;
      this.notify(error instanceof Error ? error.message : 'INTERNAL');
      return;
    }
    this.view.upload = null;
    const clientId = newClientId();
    this.store.addPending({
      type: kind,
      sender: 'user',
      content: caption,
      clientId,
      timestamp: new Date().toISOString(),
      attachment: {
        fileId: uploaded.file_id,
        url: uploaded.file_url,
        name: uploaded.name,
        mimeType: uploaded.mime_type,
        size: uploaded.size,
      },
    });
    const frame: Record<string, unknown> = { type: kind, client_id: clientId, file_id: uploaded.file_id };
    if (caption) frame.content = caption;
    this.socket.send(frame);
    this.changed();
  }

  // ---- frames ----

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'connection_status':
        return this.onStatus(frame);
      case 'ack':
        if (frame.client_id) this.store.ack(frame.client_id, frame.id, frame.seq);
        if (frame.client_id && frame.client_id === this.helpClientId) {
          this.helpClientId = undefined;
          this.bridge.post({ type: 'chatbox:help_requested', session_id: this.store.sessionId });
        }
        // an auth_refresh's ack: the server took the new token
        if (metaString(frame, 'token_expires_at')) {
          this.previousToken = null;
          this.scheduleRefresh();
        }
        break;
      case 'loading':
        this.view.loading = frame.metadata?.loading === true;
        break;
      case 'session_renamed':
        this.view.sessionName = frame.content ?? this.view.sessionName;
        break;
      case 'model_select':
        this.view.modelId = frame.model_id ?? this.view.modelId;
        break;
      case 'typing_indicator':
        this.view.adminTyping = frame.sender === 'admin' && frame.metadata?.typing === true;
        break;
      case 'admin_join':
        this.view.assistingAdmin = metaString(frame, 'admin_name') ?? 'an admin';
        this.view.helpRequested = false;
        break;
      case 'admin_leave':
        this.view.assistingAdmin = undefined;
        this.view.adminTyping = false;
        // a takeover that ended a moment ago (not one replayed from long before) asks for a rating
        if (Date.now() - Date.parse(frame.timestamp ?? '') < CSAT_ASK_WITHIN_MS)
          this.view.csat = { adminName: metaString(frame, 'admin_name') ?? 'the admin' };
        break;
      case 'error':
        this.onError(frame);
        break;
      case 'feedback': {
        const rating = metaString(frame, 'feedback');
        if (frame.id && (rating === 'up' || rating === 'down')) this.store.rate(frame.id, rating);
        return this.changed();
      }
    }
    if (frame.session_id && frame.session_id !== this.store.sessionId) return this.changed();
    // history (replayed at mount, or after another session was opened) is not unread
    const seen = Math.max(this.store.lastSeq, this.unreadFloor.seq);
    if (!this.open && isNewAnswer(frame, seen) && !this.store.holds(frame.seq ?? 0))
      this.setUnread(this.unread + 1);
    if (frame.type === 'admin_leave' || frame.sender === 'admin') this.view.adminTyping = false;
    this.store.apply(frame);
    // a stored event came past a missing one: replayed from the resume point, which stays below it
    if (isStoredEvent(frame) && this.store.hasGap) this.resync();
    // read receipt: an admin's message shown in an open chat on a visible page
    if (
      frame.type === 'user_message' &&
      frame.sender === 'admin' &&
      frame.id &&
      frame.metadata?.seen_at === undefined &&
      !this.unseen.includes(frame.id)
    ) {
      this.unseen.push(frame.id);
      this.sendReceipts();
    }
    this.changed();
  }

  // A closed chat is display:none in the parent, and its page still says `visible`: both must hold.
  private sendReceipts(): void {
    if (!this.open || document.visibilityState !== 'visible') return;
    // not sent (the link is down): the replay shows the message again, unseen
    this.unseen = this.unseen.filter(
      (id) => !this.socket.send({ type: 'read', id, client_id: newClientId() }),
    );
  }

  private onStatus(frame: Frame): void {
    const sessionId = frame.session_id ?? null;
    const metadata = frame.metadata ?? {};
    this.view.models = parseModels(metadata.models);
    this.view.modelId = typeof metadata.model_id === 'string' ? metadata.model_id : undefined;
    this.view.assistingAdmin =
      typeof metadata.assisting_admin === 'string' ? metadata.assisting_admin : undefined;
    this.view.sessionName = typeof metadata.name === 'string' ? metadata.name : 'Chat';
    if (typeof metadata.max_message_length === 'number') this.view.maxLength = metadata.max_message_length;
    this.view.helpRequested = metadata.help_requested === true;
    this.view.loading = false;
    this.wantSession = null;
    // the token works: no more asks, and the one before it is not needed
    clearTimeout(this.askTimer);
    this.tokenAsks = 0;
    this.nextAskAt = 0;
    this.previousToken = null;
    if (sessionId !== this.unreadFloor.sessionId) {
      this.unreadFloor = { sessionId, seq: frame.seq ?? 0 };
      this.unseen = [];
    }
    if (sessionId !== this.store.sessionId) {
      if (this.store.sessionId === null) {
        // the page's first session: what was typed before the socket connected stays pending and is
        // sent now (it was dropped before, issue 15)
        this.store.sessionId = sessionId;
      } else {
        // another session than the one shown (new chat, another device moved us)
        this.store.reset(sessionId);
        this.socket.clearUnacked();
      }
      // its history is fetched by reconnecting with last_seq=0: the server replays it in order
      if ((frame.seq ?? 0) > 0) this.socket.restart();
    }
    this.restoreUnsent();
    this.scheduleRefresh();
    // once per connection and session: not again for the socket that replays its history, or a resync
    if (this.announced !== sessionId) {
      this.announced = sessionId;
      this.bridge.post({ type: 'chatbox:connected', session_id: sessionId });
    }
    this.changed();
  }

  // ---- unsent messages across a reload (unsent-queue.ts) ----

  private unsentOwner(): UnsentOwner | null {
    const userId = tokenClaims(this.token ?? '').sub;
    const sessionId = this.store.sessionId;
    return userId && sessionId ? { userId, sessionId } : null;
  }

  // What this tab had not sent to the session now shown, before a reload: shown pending again, and
  // sent by the socket right after this connection_status with its own client_id, so a copy the
  // server stored already is acked, not stored twice.
  private restoreUnsent(): void {
    const owner = this.unsentOwner();
    if (!owner || unsentKey(owner) === this.restoredKey) return;
    this.restoredKey = unsentKey(owner);
    for (const { frame, message } of this.unsent.load(owner)) {
      if (this.socket.holds(frame.client_id) || this.store.knows(frame.client_id)) continue;
      this.store.addPending({ ...message, clientId: frame.client_id });
      this.socket.keep({ ...frame });
    }
    this.saveUnsent();
  }

  private saveUnsent(): void {
    const owner = this.unsentOwner();
    // another user's or session's queue is read back (or found empty) before this one replaces it
    if (!owner || unsentKey(owner) !== this.restoredKey) return;
    const entries = this.socket.unsent.flatMap((frame): UnsentEntry[] => {
      const entry = toUnsentEntry(frame, this.store.pendingMessage(String(frame.client_id)));
      return entry ? [entry] : [];
    });
    this.unsent.save(owner, entries);
  }

  private setUnread(count: number): void {
    this.unread = count;
    this.bridge.post({ type: 'chatbox:unread', count });
  }

  private onError(frame: Frame): void {
    const code = frame.error?.code ?? 'INTERNAL';
    this.bridge.post({
      type: 'chatbox:error',
      code,
      message: errorText(code),
      recoverable: frame.error?.recoverable !== false,
    });
    if (frame.client_id) this.store.fail(frame.client_id, code);
    if (code === 'UNKNOWN_MODEL') this.view.modelId = this.view.models[0]?.id;
    this.notify(code);
  }

  private resync(): void {
    clearTimeout(this.resyncTimer);
    const wait = this.lastResync + GAP_RESYNC_MIN_INTERVAL_MS - Date.now();
    // one resync at a time: a gap still open once the wait is over is filled then (a reconnect
    // meanwhile replays from the resume point anyway)
    if (wait > 0) {
      this.resyncTimer = setTimeout(() => {
        if (this.store.hasGap && this.socket.state.kind === 'connected') this.resync();
      }, wait);
      return;
    }
    this.lastResync = Date.now();
    this.socket.restart();
  }

  // ---- token ----

  private useToken(token: string): void {
    // refused by the server already (a parent's cached or badly signed token): not tried again; the
    // parent is asked again, less and less often (askForToken)
    if (this.refusedTokens.includes(token)) return;
    // the one in hand, handed again (a parent's cache): the next ask waits longer
    if (token === this.token && this.socket.state.kind !== 'signed_out') return this.scheduleRefresh();
    clearTimeout(this.askTimer);
    const first = this.token === null;
    // another user signed in on this page (a shared device): nothing of the last one's thread or
    // unsent messages may reach the new one's session (an auth_refresh of another user is refused)
    const switched = !first && tokenClaims(token).sub !== tokenClaims(this.token ?? '').sub;
    this.previousToken =
      first || switched || !this.token ? null : { token: this.token, arrivedAt: this.tokenArrivedAt };
    this.token = token;
    this.tokenArrivedAt = Date.now();
    if (switched) {
      this.wantSession = null;
      this.store.reset(null);
      this.socket.clearUnacked();
    }
    if (first || switched || this.socket.state.kind === 'signed_out') {
      this.view.notice = null;
      this.socket.restart();
    } else if (this.socket.state.kind === 'connected') {
      this.socket.send({ type: 'auth_refresh', content: token, client_id: newClientId() });
    }
    this.changed();
  }

  // The server refused the token the socket used (4401/4403, or a refused upgrade).
  private onRefused(refused: string | null): void {
    clearTimeout(this.refreshTimer);
    this.refreshFor = null;
    if (refused) this.refusedTokens = [...this.refusedTokens.slice(1 - REFUSED_TOKENS_KEPT), refused];
    const isRefused = (token: string) => this.refusedTokens.includes(token);
    // the parent's new token was refused (a bad signature) while the one before may still hold: that
    // one goes on, and is dropped in turn if refused too
    const previous = this.previousToken;
    this.previousToken = null;
    if (this.token && isRefused(this.token) && previous && !isRefused(previous.token)) {
      this.token = previous.token;
      this.tokenArrivedAt = previous.arrivedAt;
    }
    if (this.token && !isRefused(this.token)) return this.socket.restart();
    this.bridge.post({ type: 'chatbox:signed_out' });
    this.askForToken();
  }

  // Asks the parent for a token while none in hand works: at once, then 1, 2, 4 … 30 s after the
  // last ask, so a parent that hands back an expired token from its cache, a refused one or none is
  // not asked in a loop; after TOKEN_ASKS_BEFORE_ERROR asks it is told so with an error, once.
  private askForToken(): void {
    clearTimeout(this.askTimer);
    const wait = this.nextAskAt - Date.now();
    if (wait > 0) {
      this.askTimer = setTimeout(() => this.askForToken(), wait);
      return;
    }
    this.tokenAsks++;
    this.nextAskAt = Date.now() + backoffDelay(this.tokenAsks - 1);
    if (this.tokenAsks === TOKEN_ASKS_BEFORE_ERROR) {
      this.bridge.post({
        type: 'chatbox:error',
        code: 'TOKEN_EXPIRED',
        message: 'The app has no valid sign-in token for the chat.',
        recoverable: true,
      });
      this.notify('UNAUTHORIZED');
    }
    this.bridge.request('expired');
    // nothing usable comes back (no answer, or a token refused already): asked again then
    this.askTimer = setTimeout(() => this.askForToken(), this.nextAskAt - Date.now());
  }

  // Asks for the next token before this one runs out, on the token's own clock (token-clock.ts):
  // one timer per token, so acks meanwhile do not push it back.
  private scheduleRefresh(): void {
    const token = this.token;
    if (!token || token === this.refreshFor) return;
    const expiry = tokenExpiry(token, this.tokenArrivedAt);
    if (!expiry) return;
    clearTimeout(this.refreshTimer);
    // a parent that hands a new short-lived token each time is asked on each one's own clock; only
    // one that hands back a token expiring no later than the last (a cached one) is asked less often
    if (this.refreshedExp === undefined || expiry.exp > this.refreshedExp) this.shortRefreshes = 0;
    const { wait, short } = refreshDelay(expiry, Date.now(), this.shortRefreshes);
    if (!short) this.shortRefreshes = 0;
    this.refreshFor = token;
    this.refreshTimer = setTimeout(() => {
      this.refreshFor = null;
      this.refreshedExp = expiry.exp;
      if (short) this.shortRefreshes++;
      this.bridge.request('expiring', new Date(expiry.exp * 1000).toISOString());
    }, wait);
  }

  private notify(code: string): void {
    this.view.notice = { code, text: errorText(code) };
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

// A reply or an admin's message stored after everything shown: what a closed chat calls unread.
export function isNewAnswer(frame: Frame, lastSeq: number): boolean {
  const answer =
    (frame.type === 'ai_response' && frame.metadata?.done === true) ||
    (frame.sender === 'admin' && frame.type !== 'admin_join' && frame.type !== 'admin_leave');
  return answer && (frame.seq ?? 0) > lastSeq;
}

export function newClientId(): string {
  return typeof crypto.randomUUID === 'function'
    ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

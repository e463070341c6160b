import { errorText } from '../../shared/errors';
import { metaString, parseModels, type Frame } from '../../shared/protocol';
import type { ChatSocket } from './chat-socket';
import { isStoredEvent, type ChatStore } from './chat-store';
import type { ChatViewState } from './chat-view';
import type { EmbedState } from './embed-state';
import type { FileSends } from './file-sends';
import type { SessionResume } from './session-resume';
import type { TokenBridge } from './token-bridge';
import type { TokenKeeper } from './token-keeper';
import type { UnsentSync } from './unsent-sync';

const CSAT_ASK_WITHIN_MS = 10 * 60_000;
// The admin's "is typing…" ends this long after their last typing: true. The dashboard repeats it
// every 2 s while the admin types and sends typing: false after 3 s idle (typing-signal.ts); a
// typing: false lost with the admin's link must not leave it shown for good (docs/protocol.md,
// "Takeover handoff").
export const ADMIN_TYPING_EXPIRES_MS = 6_000;

export interface FrameDispatchParts {
  view: ChatViewState;
  store: ChatStore;
  socket: ChatSocket;
  bridge: TokenBridge;
  tokens: TokenKeeper;
  resume: SessionResume;
  unsent: UnsentSync;
  files: FileSends;
  embed: EmbedState;
  notify(code: string): void;
  changed(): void;
}

// What the server sends, applied: to the view, the thread (ChatStore), the token, and the parent.
export class FrameDispatch {
  // the help_request whose ack the parent hears of (chatbox:help_requested)
  helpClientId: string | undefined;
  private readonly view: ChatViewState;
  private readonly store: ChatStore;
  private readonly socket: ChatSocket;
  private readonly bridge: TokenBridge;
  private readonly tokens: TokenKeeper;
  private readonly resume: SessionResume;
  private readonly unsent: UnsentSync;
  private readonly files: FileSends;
  private readonly embed: EmbedState;
  private readonly notify: (code: string) => void;
  private readonly changed: () => void;
  private typingExpiry: ReturnType<typeof setTimeout> | undefined;

  constructor(parts: FrameDispatchParts) {
    this.view = parts.view;
    this.store = parts.store;
    this.socket = parts.socket;
    this.bridge = parts.bridge;
    this.tokens = parts.tokens;
    this.resume = parts.resume;
    this.unsent = parts.unsent;
    this.files = parts.files;
    this.embed = parts.embed;
    this.notify = (code) => parts.notify(code);
    this.changed = () => parts.changed();
  }

  onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'connection_status':
        return this.onStatus(frame);
      case 'ack':
        // help was asked for already: nothing was stored, the ack's seq is the socket's
        if (frame.client_id && frame.metadata?.already_requested === true)
          this.store.discard(frame.client_id);
        else if (frame.client_id) this.store.ack(frame.client_id, frame.id, frame.seq);
        if (frame.client_id) this.unsent.settled(frame.client_id);
        if (frame.client_id && frame.client_id === this.helpClientId) {
          this.helpClientId = undefined;
          this.bridge.post({ type: 'chatbox:help_requested', session_id: this.store.sessionId });
        }
        // an auth_refresh's ack: the server took the new token
        if (metaString(frame, 'token_expires_at')) this.tokens.refreshTaken();
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
        // Until the admin-dashboard audit of session 43 it had no end but a typing: false, and the
        // user saw "<admin> is typing…" for good after the admin's link dropped mid-typing (1 of 1)
        clearTimeout(this.typingExpiry);
        if (this.view.adminTyping)
          this.typingExpiry = setTimeout(() => {
            this.view.adminTyping = false;
            this.changed();
          }, ADMIN_TYPING_EXPIRES_MS);
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
    this.embed.countUnread(frame);
    // the admin's message came (or they left): their typing ends; their typing_indicator is no message
    if (frame.type === 'admin_leave' || (frame.sender === 'admin' && isStoredEvent(frame)))
      this.view.adminTyping = false;
    this.store.apply(frame);
    // a stored event came past a missing one: replayed from the resume point, which stays below it
    if (isStoredEvent(frame) && this.store.hasGap) this.resume.resync();
    this.embed.queueReceipt(frame);
    this.changed();
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
    this.resume.wantSession = null;
    this.tokens.tokenWorks();
    this.embed.statusFor(sessionId, frame.seq ?? 0);
    if (sessionId !== this.store.sessionId) {
      if (this.store.sessionId === null) {
        // the page's first session: what was typed before the socket connected stays pending and is
        // sent now (it was dropped before, issue 15)
        this.store.sessionId = sessionId;
      } else {
        // another session than the one shown (new chat, another device moved us): what the one left
        // had not sent stays owed to it (unsent-sync.ts)
        if (this.unsent.switchTo(sessionId) > 0) this.notify('UNSENT_KEPT');
      }
      // its history is fetched by reconnecting with last_seq=0: the server replays it in order
      if ((frame.seq ?? 0) > 0) this.socket.restart();
    }
    this.unsent.restoreUnsent();
    this.files.shown();
    this.tokens.scheduleRefresh();
    this.embed.announce(sessionId);
    this.changed();
  }

  private onError(frame: Frame): void {
    const code = frame.error?.code ?? 'INTERNAL';
    // The socket's own token ran out ("Token expired.", no client_id): the server closes it 4401 next,
    // and that close is the chat's to handle (ChatSocket.closed: a newer token in hand is tried, or
    // signed_out and a token_request, `expired`; TOKEN_EXPIRED only after TOKEN_ASKS_BEFORE_ERROR
    // asks: docs/embedding.md). Until the chat-client-under-faults browser audit of session 43 it
    // also told the parent "Please reopen the chat", recoverable: false, and showed it, while the
    // chat connected again by itself once the app's late token came (6 of 6 rounds over 2 runs).
    if (code === 'UNAUTHORIZED' && !frame.client_id) return;
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
}

import { ApiError, apiJson } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { codePoints } from '../../shared/text-length';
import { ChatSocket } from './chat-socket';
import { ChatStore, type ChatMessage } from './chat-store';
import { initialView, type ChatView, type ChatViewState } from './chat-view';
import { newClientId } from './client-id';
import { EmbedState } from './embed-state';
import { FileSends } from './file-sends';
import { FrameDispatch } from './frame-dispatch';
import { SessionResume } from './session-resume';
import { sessionIdFromLocation, TokenBridge } from './token-bridge';
import { TokenKeeper } from './token-keeper';
import { UnsentSync } from './unsent-sync';
import { versionRoot } from '../../../src/protocol/thread';

export { DEFAULT_MAX_LENGTH, type ChatView, type Notice } from './chat-view';
export { newClientId } from './client-id';
export { isNewAnswer } from './embed-state';
export { TOKEN_ASKS_BEFORE_ERROR } from './token-keeper';

// Everything the chat page does, without the DOM: the components render `view` and call actions.
// Wired here: the token's life (token-keeper.ts), the resume point (session-resume.ts), unsent messages
// (unsent-sync.ts), unread and read receipts (embed-state.ts), what the server sends (frame-dispatch.ts).
export class ChatClient {
  readonly store = new ChatStore();
  readonly socket: ChatSocket;
  readonly bridge = new TokenBridge();
  private readonly tokens: TokenKeeper;
  private readonly resume: SessionResume;
  private readonly unsentSync: UnsentSync;
  private readonly embed: EmbedState;
  private readonly frames: FrameDispatch;
  private readonly files: FileSends;
  private listeners = new Set<() => void>();
  private readonly view: ChatViewState = initialView();

  constructor(initialToken: string | null) {
    this.socket = new ChatSocket({
      token: () => this.token,
      resumeFrom: () => this.resume.resumeFrom(),
      onFrame: (frame) => this.frames.onFrame(frame),
      onState: (state) => {
        // a reply that was loading will show up on replay; the dots would only mislead meanwhile
        if (state.kind !== 'connected') this.view.loading = false;
        // a real drop: the next connection_status is a reconnection the parent hears of
        if (state.kind !== 'connected' && state.kind !== 'connecting') this.embed.resetAnnounced();
        this.changed();
      },
      onUnauthorized: (refused) => this.tokens.onRefused(refused),
      onSessionGone: () => {
        this.resume.wantSession = null;
        this.store.reset(null);
      },
      onUnsentChange: () => this.unsentSync.saveUnsent(),
    });
    this.tokens = new TokenKeeper(initialToken, this.socket, this.bridge, {
      userSwitched: () => {
        this.resume.wantSession = null;
        this.store.reset(null);
        this.socket.clearUnacked();
      },
      clearNotice: () => {
        this.view.notice = null;
      },
      notify: (code) => this.notify(code),
      changed: () => this.changed(),
    });
    this.resume = new SessionResume(this.store, this.socket);
    this.unsentSync = new UnsentSync(() => this.token, this.store, this.socket);
    this.embed = new EmbedState(this.store, this.socket, this.bridge);
    this.files = new FileSends({
      token: () => this.token,
      view: this.view,
      store: this.store,
      socket: this.socket,
      owe: (sessionId, frame, message) => this.unsentSync.owe(sessionId, frame, message),
      notify: (code) => this.notify(code),
      changed: () => this.changed(),
    });
    this.frames = new FrameDispatch({
      view: this.view,
      store: this.store,
      socket: this.socket,
      bridge: this.bridge,
      tokens: this.tokens,
      resume: this.resume,
      unsent: this.unsentSync,
      files: this.files,
      embed: this.embed,
      notify: (code) => this.notify(code),
      changed: () => this.changed(),
    });
    // the SDK's `sessionId` (?session_id=): opened instead of the active one (4404 falls back to it)
    const initialSession = sessionIdFromLocation(window.location);
    if (initialSession) {
      this.resume.wantSession = initialSession;
      this.store.reset(initialSession);
    }
    this.bridge.onToken((token) => this.tokens.useToken(token));
    this.bridge.onCommand((command) => {
      if (command.type === 'chatbox:set_session') return this.openSession(command.session_id);
      this.embed.setOpen(command.type === 'chatbox:open');
    });
    document.addEventListener('visibilitychange', () => this.embed.sendReceipts());
  }

  private get token(): string | null {
    return this.tokens.currentToken;
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
    if (codePoints(content) > this.view.maxLength) return this.notify('MESSAGE_TOO_LONG');
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
    // a file whose upload failed is uploaded again
    if (this.files.retry(message)) return this.changed();
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
    // as a new message (sendText): until the text-limits audit of session 42 an edit over the limit
    // was sent, refused MESSAGE_TOO_LONG and shown failed, and its Retry could never succeed
    if (codePoints(content) > this.view.maxLength) return this.notify('MESSAGE_TOO_LONG');
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
    this.frames.helpClientId = clientId;
    this.view.helpRequested = true;
    this.changed();
  }

  typing(typing: boolean): void {
    if (this.view.assistingAdmin) this.socket.send({ type: 'typing_indicator', metadata: { typing } });
  }

  newChat(): void {
    this.resume.wantSession = null;
    this.socket.send({ type: 'new_session', client_id: newClientId() });
  }

  openSession(sessionId: string, focusSeq?: number): void {
    this.view.focusSeq = focusSeq;
    if (sessionId === this.store.sessionId) return this.changed();
    this.resume.wantSession = sessionId;
    // what the session left had not sent stays owed to it, sent once it is open again (client audit
    // t16: it was dropped, with nothing said)
    const owed = this.unsentSync.switchTo(sessionId);
    this.files.shown();
    this.view.assistingAdmin = undefined;
    this.view.loading = false;
    if (owed > 0) this.notify('UNSENT_KEPT');
    this.changed();
    this.socket.restart();
  }

  // sessions with messages not sent yet (owed to them until they are opened again)
  get owedSessions(): ReadonlySet<string> {
    return new Set([...this.unsentSync.owedSessions(), ...this.files.sessions]);
  }

  dismissNotice(): void {
    this.view.notice = null;
    this.changed();
  }

  // Uploads a file (progress shown), then sends it as a file or voice message (file-sends.ts).
  sendFile(file: File, kind: 'file_upload' | 'voice_message', caption = ''): Promise<void> {
    return this.files.send(file, kind, caption);
  }

  private notify(code: string): void {
    this.view.notice = { code, text: errorText(code) };
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

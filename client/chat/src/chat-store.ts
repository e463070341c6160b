import { metaNumber, metaString, type Frame } from '../../shared/protocol';

export type Sender = 'user' | 'ai' | 'admin' | 'system';

export interface Attachment {
  fileId?: string;
  url?: string;
  name?: string;
  mimeType?: string;
  size?: number;
}

export interface ChatMessage {
  key: string;
  type: string;
  sender: Sender;
  content: string;
  id?: string;
  clientId?: string;
  seq?: number;
  timestamp?: string;
  modelId?: string;
  pending?: boolean;
  failed?: string;
  streaming?: boolean;
  stopped?: boolean;
  interrupted?: boolean;
  attachment?: Attachment;
  transcript?: string;
  // spoken reply of the AI (metadata.audio_url / attachments of audio type)
  audioUrl?: string;
  attachments?: string[];
}

// Event types stored in the session log that the thread shows.
const SHOWN = new Set([
  'user_message',
  'file_upload',
  'voice_message',
  'ai_response',
  'admin_join',
  'admin_leave',
  'help_request',
]);

// The thread of one session, built from frames that may arrive twice (replay after a reconnect,
// echo from another device, resend): each message is kept once, ordered by seq.
export class ChatStore {
  private byKey = new Map<string, ChatMessage>();
  private order: string[] = [];
  sessionId: string | null = null;
  lastSeq = 0;

  reset(sessionId: string | null): void {
    this.byKey.clear();
    this.order = [];
    this.sessionId = sessionId;
    this.lastSeq = 0;
  }

  get messages(): ChatMessage[] {
    const list = this.order.map((key, index) => ({ message: this.byKey.get(key) as ChatMessage, index }));
    // stored events by seq; pending and streaming ones (no seq yet) after them, in arrival order
    list.sort((a, b) => (a.message.seq ?? Infinity) - (b.message.seq ?? Infinity) || a.index - b.index);
    return list.map((entry) => entry.message);
  }

  get streaming(): ChatMessage | undefined {
    return [...this.byKey.values()].find((message) => message.streaming);
  }

  // A message the user just sent, shown at once as pending until its ack.
  addPending(message: Omit<ChatMessage, 'key' | 'pending'> & { clientId: string }): ChatMessage {
    const key = keyOf(message.sender, message.clientId, undefined);
    const entry: ChatMessage = { ...message, key, pending: true };
    this.put(entry);
    return entry;
  }

  ack(clientId: string, id: string | undefined, seq: number | undefined): void {
    const message = this.byKey.get(keyOf('user', clientId, undefined));
    if (!message) return;
    message.pending = false;
    message.failed = undefined;
    if (id) message.id = id;
    if (seq !== undefined) {
      message.seq = seq;
      this.lastSeq = Math.max(this.lastSeq, seq);
    }
  }

  fail(clientId: string, code: string): void {
    const message = this.byKey.get(keyOf('user', clientId, undefined));
    if (message && message.pending) message.failed = code;
  }

  // Applies a server frame of this session. Returns true when the thread changed.
  apply(frame: Frame): boolean {
    if (frame.type === 'ai_response' && frame.metadata?.done === false) return this.delta(frame);
    if (isStoredEvent(frame)) this.lastSeq = Math.max(this.lastSeq, frame.seq ?? 0);
    if (!SHOWN.has(frame.type)) return false;
    const sender = asSender(frame.sender, frame.type);
    const key =
      frame.type === 'ai_response' ? `ai:${frame.id ?? frame.seq}` : keyOf(sender, frame.client_id, frame);
    const previous = this.byKey.get(key);
    const message: ChatMessage = {
      ...previous,
      key,
      type: frame.type,
      sender,
      content: frame.content ?? previous?.content ?? '',
      id: frame.id ?? previous?.id,
      clientId: frame.client_id ?? previous?.clientId,
      seq: frame.seq ?? previous?.seq,
      timestamp: frame.timestamp ?? previous?.timestamp,
      modelId: frame.model_id ?? previous?.modelId,
      pending: false,
      failed: undefined,
      streaming: false,
    };
    if (frame.type === 'ai_response') {
      message.stopped = frame.metadata?.stopped === true;
      message.interrupted = frame.metadata?.interrupted === true;
      const attachments = frame.metadata?.attachments;
      if (Array.isArray(attachments))
        message.attachments = attachments.filter((item) => typeof item === 'string');
      message.audioUrl = metaString(frame, 'audio_url') ?? previous?.audioUrl;
    }
    if (frame.type === 'file_upload' || frame.type === 'voice_message') {
      message.attachment = {
        fileId: frame.file_id,
        url: frame.file_url ?? metaString(frame, 'file_url'),
        name: metaString(frame, 'name') ?? metaString(frame, 'file_name'),
        mimeType: metaString(frame, 'mime_type'),
        size: metaNumber(frame, 'size'),
      };
      message.transcript = metaString(frame, 'transcript');
    }
    if (frame.type === 'admin_join' || frame.type === 'admin_leave') {
      const name = metaString(frame, 'admin_name') ?? 'An admin';
      message.content =
        frame.type === 'admin_join' ? `${name} joined the conversation` : `${name} left the conversation`;
      message.sender = 'system';
    }
    if (frame.type === 'help_request') {
      message.content = frame.content ? `Help requested: ${frame.content}` : 'Help requested';
      message.sender = 'system';
    }
    this.put(message);
    return true;
  }

  private delta(frame: Frame): boolean {
    const key = `ai:${frame.id}`;
    const previous = this.byKey.get(key);
    if (previous && !previous.streaming) return false; // the final text is already here
    const delta = metaString(frame, 'delta') ?? '';
    const offset = metaNumber(frame, 'offset');
    const text = previous?.content ?? '';
    // offsets make a replayed or repeated delta idempotent
    const content =
      offset === undefined ? text + delta : text.slice(0, offset) + delta + text.slice(offset + delta.length);
    this.put({
      key,
      type: 'ai_response',
      sender: 'ai',
      content,
      id: frame.id,
      clientId: frame.client_id,
      modelId: frame.model_id,
      timestamp: previous?.timestamp ?? new Date().toISOString(),
      streaming: true,
    });
    return true;
  }

  private put(message: ChatMessage): void {
    if (!this.byKey.has(message.key)) this.order.push(message.key);
    this.byKey.set(message.key, message);
  }
}

const EPHEMERAL = new Set([
  'ack',
  'error',
  'loading',
  'typing_indicator',
  'connection_status',
  'session_renamed',
  'model_select',
]);

// An event of the session log (it has its own seq), as opposed to acks, deltas and notices.
export function isStoredEvent(frame: Frame): boolean {
  if (frame.id === undefined || frame.seq === undefined || EPHEMERAL.has(frame.type)) return false;
  return !(frame.type === 'ai_response' && frame.metadata?.done === false);
}

function keyOf(sender: Sender, clientId: string | undefined, frame: Frame | undefined): string {
  if (clientId) return `${sender === 'ai' ? 'ai' : sender === 'admin' ? 'admin' : 'user'}:c:${clientId}`;
  return `id:${frame?.id ?? `seq-${frame?.seq}`}`;
}

function asSender(sender: string | undefined, type: string): Sender {
  if (sender === 'user' || sender === 'ai' || sender === 'admin' || sender === 'system') return sender;
  return type === 'ai_response' ? 'ai' : 'user';
}

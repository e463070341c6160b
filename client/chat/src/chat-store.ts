import { isRecord, metaNumber, metaString, SeqPrefix, type Frame } from '../../shared/protocol';
import { buildThread, replyGroup, versionRoot } from '../../../src/protocol/thread';

export type Sender = 'user' | 'ai' | 'admin' | 'system';

export interface Attachment {
  fileId?: string;
  url?: string;
  name?: string;
  mimeType?: string;
  size?: number;
  // a vendor's link rather than our stored file: opened, never fetched with the token
  external?: boolean;
  // 'tts' for the spoken version of an AI reply
  source?: string;
  // a file of the reply the server did not keep (docs/protocol.md, "Uploads and files"): why
  dropped?: string;
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
  // files of an AI reply (metadata.attachments), its spoken version among them
  attachments?: Attachment[];
  // edit_of, alternative_of, reply_id (docs/protocol.md, "Versions")
  metadata?: Record<string, unknown>;
  // a reply with alternatives: which one this is (0-based) and all their ids, oldest first
  alternatives?: { index: number; ids: string[] };
  // an edited message: the texts of every version, oldest first (this one is the last)
  versions?: string[];
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
  'system_message',
  // not shown itself: it chooses which alternative reply is
  'reply_select',
]);

// The thread of one session, built from frames that may arrive twice (replay after a reconnect,
// echo from another device, resend): each message is kept once, ordered by seq.
export class ChatStore {
  private byKey = new Map<string, ChatMessage>();
  private pendingKeys = new Map<string, string>();
  private order: string[] = [];
  // the seqs held: the resume point is the top of their gapless prefix (docs/protocol.md, "Resume
  // point", as a room's), never merely the highest seen, so a reconnect replays what a gap lacks
  private seqs = new SeqPrefix<true>(0);
  // replies streaming: the session's last stored seq their latest piece carried
  private streamedAt = new Map<string, number>();
  // replies cut off by an instance that died: pieces of theirs still on the way are dropped
  private dead = new Set<string>();
  sessionId: string | null = null;

  reset(sessionId: string | null): void {
    this.byKey.clear();
    this.pendingKeys.clear();
    this.order = [];
    this.sessionId = sessionId;
    this.seqs.restart(0);
    this.streamedAt.clear();
    this.dead.clear();
  }

  // the last_seq to resume from: every stored event up to it is held
  get lastSeq(): number {
    return this.seqs.point;
  }

  // a stored event is missing below one held
  get hasGap(): boolean {
    return this.seqs.heldCount > 0;
  }

  holds(seq: number): boolean {
    return this.seqs.has(seq);
  }

  get messages(): ChatMessage[] {
    const list = this.order.map((key, index) => ({ message: this.byKey.get(key) as ChatMessage, index }));
    // stored events by seq; pending and streaming ones (no seq yet) after them, in arrival order
    list.sort((a, b) => (a.message.seq ?? Infinity) - (b.message.seq ?? Infinity) || a.index - b.index);
    // the conversation as it reads now: latest version of each message, chosen alternative of each reply
    const entries = list.map(({ message }) => ({ ...message, id: message.id ?? message.key }));
    const thread = buildThread(entries);
    return thread.current.map((message) => {
      if (message.type === 'ai_response') {
        const ids = (thread.alternatives.get(replyGroup(message)) ?? []).map((entry) => entry.id);
        return ids.length > 1
          ? { ...message, alternatives: { index: ids.indexOf(message.id), ids } }
          : message;
      }
      if (message.type === 'user_message') {
        const versions = thread.versions.get(versionRoot(message)) ?? [];
        return versions.length > 1
          ? { ...message, versions: versions.map((entry) => entry.content) }
          : message;
      }
      return message;
    });
  }

  get streaming(): ChatMessage | undefined {
    return [...this.byKey.values()].find((message) => message.streaming);
  }

  // A message the user just sent, shown at once as pending until its ack.
  addPending(message: Omit<ChatMessage, 'key' | 'pending'> & { clientId: string }): ChatMessage {
    const key = keyOf(message.type, message.clientId, undefined);
    const entry: ChatMessage = { ...message, key, pending: true };
    this.pendingKeys.set(message.clientId, key);
    this.put(entry);
    return entry;
  }

  ack(clientId: string, id: string | undefined, seq: number | undefined): void {
    const key = this.pendingKeys.get(clientId);
    const message = key ? this.byKey.get(key) : undefined;
    if (!message) return;
    this.pendingKeys.delete(clientId);
    message.pending = false;
    message.failed = undefined;
    if (id) message.id = id;
    if (seq !== undefined) {
      message.seq = seq;
      this.seqs.add(seq, true);
    }
  }

  // A pending message the server stored nothing for (a help request while one waits: its ack says
  // already_requested and carries the socket's seq, not one of its own): it goes.
  discard(clientId: string): void {
    const key = this.pendingKeys.get(clientId);
    if (!key) return;
    this.pendingKeys.delete(clientId);
    this.remove(key);
  }

  // the message a client_id names while it waits for its ack
  pendingMessage(clientId: string): ChatMessage | undefined {
    const key = this.pendingKeys.get(clientId);
    return key ? this.byKey.get(key) : undefined;
  }

  // a message with this client_id is shown already (pending, or stored and replayed)
  knows(clientId: string): boolean {
    return (
      this.pendingKeys.has(clientId) || [...this.byKey.values()].some((entry) => entry.clientId === clientId)
    );
  }

  fail(clientId: string, code: string): void {
    const key = this.pendingKeys.get(clientId);
    const message = key ? this.byKey.get(key) : undefined;
    if (message && message.pending) message.failed = code;
  }

  // Applies a server frame of this session. Returns true when the thread changed.
  apply(frame: Frame): boolean {
    if (frame.type === 'ai_response' || frame.type === 'admin_join') this.dropCutOff(frame);
    if (frame.type === 'ai_response' && frame.metadata?.done === false) return this.delta(frame);
    if (isStoredEvent(frame)) this.seqs.add(frame.seq ?? 0, true);
    if (!SHOWN.has(frame.type)) return false;
    const sender = asSender(frame.sender, frame.type);
    const key =
      frame.type === 'ai_response'
        ? `ai:${frame.id ?? frame.seq}`
        : keyOf(frame.type, frame.client_id, frame);
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
      metadata: frame.metadata ?? previous?.metadata,
    };
    if (frame.type === 'ai_response') {
      message.stopped = frame.metadata?.stopped === true;
      message.interrupted = frame.metadata?.interrupted === true;
      message.attachments = parseAttachments(frame.metadata?.attachments);
    }
    if (frame.type === 'file_upload' || frame.type === 'voice_message') {
      const file = frame.metadata?.file;
      const info = isRecord(file) ? file : {};
      message.attachment = {
        fileId: frame.file_id ?? previous?.attachment?.fileId,
        url: frame.file_url ?? previous?.attachment?.url,
        name: stringOf(info.name) ?? previous?.attachment?.name,
        mimeType: stringOf(info.mime_type) ?? previous?.attachment?.mimeType,
        size: typeof info.size === 'number' ? info.size : previous?.attachment?.size,
      };
    }
    if (frame.type === 'voice_message') {
      // a voice message's content is its transcript: shown once, as the transcript
      message.transcript = metaString(frame, 'transcript') ?? frame.content;
      message.content = '';
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
    if (frame.type === 'system_message') message.sender = 'system';
    this.put(message);
    return true;
  }

  // an admin's message the user has seen (read receipt)
  markSeen(id: string, seenAt: string): void {
    const message = [...this.byKey.values()].find((entry) => entry.id === id);
    if (message) this.put({ ...message, metadata: { ...message.metadata, seen_at: seenAt } });
  }

  // a reply rated on this or another device
  rate(id: string, rating: 'up' | 'down'): void {
    const message = [...this.byKey.values()].find((entry) => entry.id === id);
    if (message) this.put({ ...message, metadata: { ...message.metadata, feedback: rating } });
  }

  // A reply whose instance was killed is never stored: its turn is answered again under a new id
  // (docs/protocol.md, "Every acked turn ends"), and no reply streams past an `admin_join`
  // ("Takeover handoff"). So another reply streaming, or one (or a join) stored after the cut-off
  // reply's last piece, shows it dead: it leaves the thread, as it left the log. Its stored copy, if
  // it was alive after all (two instances answering at once), is still taken.
  private dropCutOff(frame: Frame): void {
    // the stored copy of one given up on: two were answering at once, this says nothing of the other
    if (frame.id !== undefined && this.dead.has(frame.id)) return;
    const streamingNow = frame.type === 'ai_response' && frame.metadata?.done === false;
    for (const [id, seq] of this.streamedAt) {
      if (id === frame.id || !(streamingNow || (frame.seq ?? 0) > seq)) continue;
      this.streamedAt.delete(id);
      this.dead.add(id);
      this.remove(`ai:${id}`);
    }
  }

  private delta(frame: Frame): boolean {
    const key = `ai:${frame.id}`;
    const previous = this.byKey.get(key);
    if (previous && !previous.streaming) return false; // the final text is already here
    if (frame.id !== undefined && this.dead.has(frame.id)) return false;
    if (frame.id !== undefined) this.streamedAt.set(frame.id, frame.seq ?? 0);
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
    if (message.type === 'ai_response' && !message.streaming && message.id)
      this.streamedAt.delete(message.id);
  }

  private remove(key: string): void {
    if (!this.byKey.delete(key)) return;
    this.order = this.order.filter((entry) => entry !== key);
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
  'feedback',
  'read',
]);

// An event of the session log (it has its own seq), as opposed to acks, deltas and notices.
export function isStoredEvent(frame: Frame): boolean {
  if (frame.id === undefined || frame.seq === undefined || EPHEMERAL.has(frame.type)) return false;
  return !(frame.type === 'ai_response' && frame.metadata?.done === false);
}

// What a client sent is known by its client_id before it has an id; the type keeps apart the
// message and what the server answers with the same client_id (a help request's system_message).
function keyOf(type: string, clientId: string | undefined, frame: Frame | undefined): string {
  if (clientId) return `${type}:c:${clientId}`;
  return `id:${frame?.id ?? `seq-${frame?.seq}`}`;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// metadata.attachments: objects {kind, source, file_url, name, mime_type, size, external}, files the
// server did not keep {kind, source, dropped}, or bare URLs
export function parseAttachments(value: unknown): Attachment[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list = value.flatMap((entry: unknown): Attachment[] => {
    if (typeof entry === 'string')
      return isWebLink(entry) ? [{ url: entry, external: !isOwnPath(entry) }] : [];
    if (!isRecord(entry)) return [];
    const kind = stringOf(entry.kind);
    // refused by the uploads' checks: no link, only why
    if (typeof entry.dropped === 'string' && entry.file_url === undefined)
      return [{ dropped: entry.dropped, source: stringOf(entry.source), mimeType: kindType(kind) }];
    if (typeof entry.file_url !== 'string' || !isWebLink(entry.file_url)) return [];
    return [
      {
        url: entry.file_url,
        fileId: stringOf(entry.file_id),
        name: stringOf(entry.name),
        mimeType: stringOf(entry.mime_type) ?? kindType(kind),
        size: typeof entry.size === 'number' ? entry.size : undefined,
        // a link to another host is never read with the user's token, whatever the entry says
        external: entry.external === true || !isOwnPath(entry.file_url),
        source: stringOf(entry.source),
      },
    ];
  });
  return list.length > 0 ? list : undefined;
}

// A file is shown as a link only when it is one to a web page: our files' paths (relative, resolved
// as the page resolves them) and a vendor's http(s) links. A vendor's javascript: or data: URL (a
// Dify message_file) is no file of the reply: never an <a href>, whatever the CSP would stop.
function isWebLink(url: string): boolean {
  try {
    const { protocol } = new URL(url, 'http://page.invalid/');
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

// A path of this server (`/chat/files/…`), whose file is read with the user's token: one slash and
// a path, never `//host/…` or `/\\host/…`, which a browser resolves to another host.
function isOwnPath(url: string): boolean {
  return url.startsWith('/') && new URL(url, 'http://page.invalid/').host === 'page.invalid';
}

function kindType(kind: string | undefined): string | undefined {
  return kind === 'audio' ? 'audio/*' : kind === 'image' ? 'image/*' : undefined;
}

function asSender(sender: string | undefined, type: string): Sender {
  if (sender === 'user' || sender === 'ai' || sender === 'admin' || sender === 'system') return sender;
  return type === 'ai_response' ? 'ai' : 'user';
}

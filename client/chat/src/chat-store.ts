import { metaNumber, metaString, SeqPrefix, type Frame } from '../../shared/protocol';
import { buildThread, replyGroup, versionRoot } from '../../../src/protocol/thread';
import type { ChatMessage } from './chat-message';
import { frameMessage, isStoredEvent, keyOf, SHOWN } from './frame-message';

// the thread's messages (chat-message.ts), how a stored frame reads as one (frame-message.ts) and the
// files of a reply (message-attachments.ts) are their own modules; the rest of the client imports
// them from here
export type { Attachment, ChatMessage, Sender } from './chat-message';
export { isStoredEvent } from './frame-message';
export { parseAttachments } from './message-attachments';

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
    const key =
      frame.type === 'ai_response'
        ? `ai:${frame.id ?? frame.seq}`
        : keyOf(frame.type, frame.client_id, frame);
    this.put(frameMessage(frame, key, this.byKey.get(key)));
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

import type { ChatSocket } from './chat-socket';
import type { ChatMessage, ChatStore } from './chat-store';
import type { ChatViewState } from './chat-view';
import { newClientId } from './client-id';
import { uploadFile, type UploadedFile } from './uploads';

type FileKind = 'file_upload' | 'voice_message';
type PendingMessage = Omit<ChatMessage, 'key' | 'pending'> & { clientId: string };

// a file whose upload failed: held in memory for the Retry (storage cannot hold a File)
interface FailedUpload {
  sessionId: string | null;
  file: File;
  kind: FileKind;
  caption: string;
  timestamp: string;
  code: string;
}

export interface FileSendsParts {
  token(): string | null;
  view: ChatViewState;
  store: ChatStore;
  socket: ChatSocket;
  // a frame for a session no longer shown: owed to it, sent once it is shown again (unsent-sync.ts)
  owe(sessionId: string, frame: Record<string, unknown>, message: PendingMessage): void;
  notify(code: string): void;
  changed(): void;
}

// Files and voice messages: uploaded (progress shown), then sent with the file's id. An upload that
// fails keeps the file and its caption in the thread, "Not sent" with a Retry that uploads it again
// under the same client_id, as a refused text message is kept (until the client audit, t18, the
// file, its caption and a recorded voice message were thrown away); one of a session left is shown
// again when that session is.
export class FileSends {
  private readonly failed = new Map<string, FailedUpload>();

  constructor(private readonly parts: FileSendsParts) {}

  async send(file: File, kind: FileKind, caption = '', clientId = newClientId()): Promise<void> {
    const { view, store, socket } = this.parts;
    const token = this.parts.token();
    if (!token) return;
    const sessionId = store.sessionId;
    const timestamp = new Date().toISOString();
    view.upload = { name: file.name, progress: 0 };
    this.parts.changed();
    let uploaded: UploadedFile;
    try {
      uploaded = await uploadFile(file, token, (progress) => {
        view.upload = { name: file.name, progress };
        this.parts.changed();
      });
    } catch (error) {
      view.upload = null;
      const code = error instanceof Error ? error.message : 'INTERNAL';
      this.failed.set(clientId, { sessionId, file, kind, caption, timestamp, code });
      // shown in the session it was sent from, if that one is still shown (else when it is again)
      if (store.sessionId === sessionId) this.showFailed(clientId);
      this.parts.notify(code);
      return;
    }
    view.upload = null;
    const message: PendingMessage = {
      type: kind,
      sender: 'user',
      content: caption,
      clientId,
      timestamp,
      attachment: {
        fileId: uploaded.file_id,
        url: uploaded.file_url,
        name: uploaded.name,
        mimeType: uploaded.mime_type,
        size: uploaded.size,
      },
    };
    const frame: Record<string, unknown> = { type: kind, client_id: clientId, file_id: uploaded.file_id };
    if (caption) frame.content = caption;
    // sent where it was chosen: another session opened meanwhile is not the one it was meant for
    if (sessionId !== null && store.sessionId !== sessionId) return this.parts.owe(sessionId, frame, message);
    store.addPending(message);
    socket.send(frame);
    this.parts.changed();
  }

  // The user's Retry of a message: true when it is a failed upload, uploaded again now.
  retry(message: ChatMessage): boolean {
    const held = message.clientId ? this.failed.get(message.clientId) : undefined;
    if (!held || !message.clientId) return false;
    this.failed.delete(message.clientId);
    // "Sending…" meanwhile (the thread shows copies: the store's own entry is changed)
    const shown = this.parts.store.pendingMessage(message.clientId);
    if (shown) shown.failed = undefined;
    void this.send(held.file, held.kind, held.caption, message.clientId);
    return true;
  }

  // Another session is shown: its failed uploads are shown again.
  shown(): void {
    for (const [clientId, held] of this.failed)
      if (held.sessionId === this.parts.store.sessionId && !this.parts.store.knows(clientId))
        this.showFailed(clientId);
  }

  // the sessions with uploads that failed
  get sessions(): Set<string> {
    const sessions = new Set<string>();
    for (const held of this.failed.values()) if (held.sessionId) sessions.add(held.sessionId);
    return sessions;
  }

  private showFailed(clientId: string): void {
    const held = this.failed.get(clientId);
    if (!held) return;
    const { store } = this.parts;
    store.addPending({
      type: held.kind,
      sender: 'user',
      content: held.caption,
      clientId,
      timestamp: held.timestamp,
      attachment: { name: held.file.name, mimeType: held.file.type, size: held.file.size },
    });
    store.fail(clientId, held.code);
  }
}

import { isRecord, parseJson } from '../../shared/protocol';

// The AI chat's unsent messages, kept in the tab's sessionStorage so a reload sends them again
// with the same client_id: the server stores each client_id once, whenever the copy comes
// (docs/protocol.md, "Guarantees", "Resends"). sessionStorage, not localStorage: it dies with the
// tab and is not shared with the user's other tabs, each of which resends its own. One queue per
// session of the user (the token's subject): the shown one's as the socket holds it, and those of
// sessions left with messages unsent, owed to them until they are shown again (a user's message goes
// to the session its socket is in: it cannot be sent to another from here). Until the client audit
// (t16) a switch of session dropped them. Another user's queues are dropped. The rooms keep their own
// unsent operations.

export const UNSENT_MAX_ENTRIES = 50;
// what one tab may keep here (sessionStorage holds about 5 MB per origin, the token among it)
export const UNSENT_MAX_CHARS = 256 * 1024;
const MAX_FIELD_CHARS = 64 * 1024;
const CLIENT_ID_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;
const PREFIX = 'chatbox:unsent:';

export type UnsentType =
  'user_message' | 'file_upload' | 'voice_message' | 'help_request' | 'edit_message' | 'reply_select';

// what each frame type cannot go without (the server refuses it otherwise)
const REQUIRED: Record<UnsentType, ReadonlyArray<'content' | 'file_id' | 'id'>> = {
  user_message: ['content'],
  file_upload: ['file_id'],
  voice_message: ['file_id'],
  help_request: [],
  edit_message: ['id', 'content'],
  reply_select: ['id'],
};

// the frame as it was first sent
export interface UnsentFrame {
  type: UnsentType;
  client_id: string;
  content?: string;
  file_id?: string;
  id?: string;
}

// what the thread shows of it meanwhile (pending)
export interface UnsentMessage {
  type: 'user_message' | 'file_upload' | 'voice_message' | 'help_request' | 'reply_select';
  sender: 'user' | 'system';
  content: string;
  timestamp?: string;
  // edit_of (an edit), reply_id (a reply choice)
  metadata?: { edit_of?: string; reply_id?: string };
  attachment?: { fileId?: string; url?: string; name?: string; mimeType?: string; size?: number };
}

export interface UnsentEntry {
  frame: UnsentFrame;
  message: UnsentMessage;
}

export interface UnsentOwner {
  userId: string;
  sessionId: string;
}

export function unsentKey(owner: UnsentOwner): string {
  return `${PREFIX}${encodeURIComponent(owner.userId)}:${encodeURIComponent(owner.sessionId)}`;
}

// One entry from what storage (or the page) holds, rebuilt from the fields it may have, or null.
// New objects throughout: no key of the input (`__proto__` among them) is copied as it is.
export function toUnsentEntry(frame: unknown, message: unknown): UnsentEntry | null {
  if (!isRecord(frame) || !isRecord(message)) return null;
  const type = frame.type;
  if (typeof type !== 'string' || !Object.hasOwn(REQUIRED, type)) return null;
  if (typeof frame.client_id !== 'string' || !CLIENT_ID_SHAPE.test(frame.client_id)) return null;
  const sent: UnsentFrame = { type: type as UnsentType, client_id: frame.client_id };
  for (const field of ['content', 'file_id', 'id'] as const) {
    const value = text(frame[field]);
    if (value !== undefined) sent[field] = value;
    else if (frame[field] !== undefined) return null;
  }
  if (REQUIRED[sent.type].some((field) => sent[field] === undefined)) return null;
  const shown = toMessage(message);
  return shown ? { frame: sent, message: shown } : null;
}

function toMessage(message: Record<string, unknown>): UnsentMessage | null {
  const { type, sender } = message;
  const content = text(message.content);
  if (
    type !== 'user_message' &&
    type !== 'file_upload' &&
    type !== 'voice_message' &&
    type !== 'help_request' &&
    type !== 'reply_select'
  )
    return null;
  if ((sender !== 'user' && sender !== 'system') || content === undefined) return null;
  const shown: UnsentMessage = { type, sender, content };
  const timestamp = text(message.timestamp);
  if (timestamp !== undefined) shown.timestamp = timestamp;
  if (isRecord(message.metadata)) {
    const metadata: NonNullable<UnsentMessage['metadata']> = {};
    const editOf = text(message.metadata.edit_of);
    const replyId = text(message.metadata.reply_id);
    if (editOf !== undefined) metadata.edit_of = editOf;
    if (replyId !== undefined) metadata.reply_id = replyId;
    if (editOf !== undefined || replyId !== undefined) shown.metadata = metadata;
  }
  if (isRecord(message.attachment)) {
    const file = message.attachment;
    const attachment: NonNullable<UnsentMessage['attachment']> = {};
    for (const field of ['fileId', 'url', 'name', 'mimeType'] as const) {
      const value = text(file[field]);
      if (value !== undefined) attachment[field] = value;
    }
    if (typeof file.size === 'number' && Number.isSafeInteger(file.size) && file.size >= 0)
      attachment.size = file.size;
    shown.attachment = attachment;
  }
  return shown;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_FIELD_CHARS ? value : undefined;
}

// What storage holds for `owner`: its well-formed entries, oldest first, at most UNSENT_MAX_ENTRIES.
// Never throws: anything else (another user's or session's queue, bad JSON, a value past the cap)
// reads as nothing, a bad entry is passed over.
export function parseUnsent(stored: string | null, owner: UnsentOwner): UnsentEntry[] {
  if (stored === null || stored.length > UNSENT_MAX_CHARS) return [];
  const value = parseJson(stored);
  if (!isRecord(value) || value.user !== owner.userId || value.session !== owner.sessionId) return [];
  if (!Array.isArray(value.entries)) return [];
  const entries: UnsentEntry[] = [];
  const seen = new Set<string>();
  for (const item of value.entries.slice(0, UNSENT_MAX_ENTRIES)) {
    const entry = isRecord(item) ? toUnsentEntry(item.frame, item.message) : null;
    if (!entry || seen.has(entry.frame.client_id)) continue;
    seen.add(entry.frame.client_id);
    entries.push(entry);
  }
  return entries;
}

// The oldest entries that fit both caps, as stored (a longer queue keeps the rest in memory only).
export function serializeUnsent(owner: UnsentOwner, entries: readonly UnsentEntry[]): string {
  const kept = entries.slice(0, UNSENT_MAX_ENTRIES);
  for (;;) {
    const stored = JSON.stringify({ user: owner.userId, session: owner.sessionId, entries: kept });
    if (stored.length <= UNSENT_MAX_CHARS || kept.length === 0) return stored;
    kept.pop();
  }
}

// The queues, in memory and mirrored in sessionStorage. A browser may refuse storage (privacy modes,
// a sandboxed frame: even reading `window.sessionStorage` can throw) or run out of room: the queues
// then live as long as the page.
export class UnsentQueue {
  private readonly memory = new Map<string, UnsentEntry[]>();

  constructor(private readonly storage: () => Storage = () => window.sessionStorage) {}

  load(owner: UnsentOwner): UnsentEntry[] {
    const kept = this.memory.get(unsentKey(owner));
    if (kept) return [...kept];
    try {
      return parseUnsent(this.storage().getItem(unsentKey(owner)), owner);
    } catch {
      return [];
    }
  }

  // `owner`'s queue, replacing what was kept for it; another user's queues go.
  save(owner: UnsentOwner, entries: readonly UnsentEntry[]): void {
    const key = unsentKey(owner);
    const mine = userPrefix(owner.userId);
    for (const name of this.memory.keys()) if (!name.startsWith(mine)) this.memory.delete(name);
    if (entries.length === 0) this.memory.delete(key);
    else this.memory.set(key, [...entries]);
    try {
      const storage = this.storage();
      const others = storedKeys(storage).filter((name) => name !== key);
      for (const name of others) if (!name.startsWith(mine)) storage.removeItem(name);
      if (entries.length === 0) return storage.removeItem(key);
      const stored = serializeUnsent(owner, entries);
      storage.setItem(key, stored);
      // the user's queues together stay within the cap: another session's goes first (kept in memory)
      let total = stored.length;
      for (const name of others.filter((other) => other.startsWith(mine))) {
        const size = storage.getItem(name)?.length ?? 0;
        if (total + size <= UNSENT_MAX_CHARS) total += size;
        else storage.removeItem(name);
      }
    } catch {
      // no storage: a reload loses what was not sent, as before
    }
  }

  // `owner`'s queue without `clientId` (a message the server answered).
  forget(owner: UnsentOwner, clientId: string): void {
    const entries = this.load(owner);
    const left = entries.filter((entry) => entry.frame.client_id !== clientId);
    if (left.length < entries.length) this.save(owner, left);
  }

  // The sessions of `userId` that have messages owed to them.
  owed(userId: string): Set<string> {
    const mine = userPrefix(userId);
    const names = [...this.memory.keys()];
    try {
      names.push(...storedKeys(this.storage()));
    } catch {
      // memory only
    }
    const sessions = new Set<string>();
    for (const name of names) {
      if (!name.startsWith(mine)) continue;
      try {
        sessions.add(decodeURIComponent(name.slice(mine.length)));
      } catch {
        // not a key this page wrote
      }
    }
    return sessions;
  }
}

function userPrefix(userId: string): string {
  return `${PREFIX}${encodeURIComponent(userId)}:`;
}

function storedKeys(storage: Storage): string[] {
  const names: string[] = [];
  for (let index = 0; index < storage.length; index++) {
    const name = storage.key(index);
    if (name !== null && name.startsWith(PREFIX)) names.push(name);
  }
  return names;
}

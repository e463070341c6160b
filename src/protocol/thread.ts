// The conversation as it reads now, from the append-only session log (docs/protocol.md, "Versions"):
// - an edited user message (`metadata.edit_of` = the first version's id) replaces that message and
//   everything after it (the answers to the old text);
// - a regenerated reply (`metadata.alternative_of` = the first reply's id) is an alternative of the
//   same turn: the newest one is shown, unless a `reply_select` event (`metadata.reply_id`) chose
//   another since;
// - a reply names the turn it answers (`metadata.reply_to` = the user message's id) and reads right
//   after it, before any later turn: a fast client's m1, m2, m3 are stored before their replies,
//   and the log reads m1 m2 m3 r1 r2 r3 (docs/protocol.md, "Every acked turn ends"). A reply
//   stored before the field came, or whose turn is not in the thread, reads where it was stored.
// Server (the history sent to the model) and client (what the thread shows) both use this. Plain
// TypeScript: nothing here may import Node or Nest.

export interface LogEntry {
  id: string;
  type: string;
  metadata?: Record<string, unknown>;
}

export function editOf(message: LogEntry): string | undefined {
  const value = message.type === 'user_message' ? message.metadata?.edit_of : undefined;
  return typeof value === 'string' ? value : undefined;
}

// The id every version of a user message shares (the first version's).
export function versionRoot(message: LogEntry): string {
  return editOf(message) ?? message.id;
}

// The id every alternative reply of a turn shares (the first reply's).
export function replyGroup(message: LogEntry): string {
  const value = message.metadata?.alternative_of;
  return typeof value === 'string' ? value : message.id;
}

// The user message a reply answers (stored on replies since 2026-12-06).
export function replyTo(message: LogEntry): string | undefined {
  const value = message.type === 'ai_response' ? message.metadata?.reply_to : undefined;
  return typeof value === 'string' ? value : undefined;
}

// A user's turn: what a reply answers and what a reply never reads past.
export function isTurn(message: LogEntry): boolean {
  return (
    message.type === 'user_message' || message.type === 'voice_message' || message.type === 'file_upload'
  );
}

export interface Thread<T extends LogEntry> {
  // the events as the conversation reads now, in log order
  current: T[];
  // every alternative of each reply group, oldest first
  alternatives: Map<string, T[]>;
  // every version of each edited user message, oldest first
  versions: Map<string, T[]>;
}

export function buildThread<T extends LogEntry>(log: readonly T[]): Thread<T> {
  const current: T[] = [];
  const alternatives = new Map<string, T[]>();
  const versions = new Map<string, T[]>();
  // the alternative each reply group shows now
  const chosen = new Map<string, T>();
  const byId = new Map<string, T>();
  for (const message of log) {
    byId.set(message.id, message);
    if (message.type === 'reply_select') {
      const picked = byId.get(String(message.metadata?.reply_id));
      if (picked && picked.type === 'ai_response') chosen.set(replyGroup(picked), picked);
      continue;
    }
    if (message.type === 'user_message') {
      const root = versionRoot(message);
      const list = versions.get(root) ?? [];
      list.push(message);
      versions.set(root, list);
      if (editOf(message) !== undefined) {
        const index = current.findIndex(
          (entry) => entry.type === 'user_message' && versionRoot(entry) === root,
        );
        if (index >= 0) current.length = index;
      }
    }
    if (message.type === 'ai_response') {
      const group = replyGroup(message);
      const list = alternatives.get(group) ?? [];
      list.push(message);
      alternatives.set(group, list);
      chosen.set(group, message);
      // an alternative takes the place of the reply it regenerates
      if (
        list.length > 1 &&
        current.some((entry) => entry.type === 'ai_response' && replyGroup(entry) === group)
      )
        continue;
      const turn = replyTo(message);
      const at = turn === undefined ? -1 : current.findIndex((entry) => entry.id === turn);
      if (at >= 0) {
        const later = current.findIndex((entry, index) => index > at && isTurn(entry));
        if (later >= 0) {
          current.splice(later, 0, message);
          continue;
        }
      }
    }
    current.push(message);
  }
  return {
    current: current.map((entry) =>
      entry.type === 'ai_response' ? (chosen.get(replyGroup(entry)) ?? entry) : entry,
    ),
    alternatives,
    versions,
  };
}

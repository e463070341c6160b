// What is shown for content the server could not decrypt: `unreadable: true` with content "" (a
// message's `metadata.unreadable`, a note's or a report's own flag), docs/protocol.md "Content at
// rest". One wording everywhere, never an empty bubble or cell. Until the admin-dashboard audit of
// session 43 the dashboard and the chat showed such content as nothing at all (4 places of 4).
export const UNREADABLE_TEXT = "This content can't be read: its encryption key is no longer configured.";

export function isUnreadable(flags: object | null | undefined): boolean {
  return (flags as { unreadable?: unknown } | null | undefined)?.unreadable === true;
}

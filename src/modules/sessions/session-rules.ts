// Pure rules about sessions, kept apart so they can be property-tested.
const NAME_MAX_CHARS = 48;
const NAME_MAX_WORDS = 7;
export const DEFAULT_SESSION_NAME = 'New chat';

// A session is restored on reconnect when it is still active and was last used within the timeout.
export function isRestorable(
  session: { is_active: boolean; last_activity: Date },
  now: Date,
  reconnectTimeoutMs: number,
): boolean {
  return session.is_active && now.getTime() - session.last_activity.getTime() <= reconnectTimeoutMs;
}

// An instant name from the first message: its first words, without markdown or line breaks.
export function nameFromFirstMessage(content: string): string {
  const words = content
    .replace(/```[\s\S]*?```/g, ' ')
    .replace(/[#*_`>~[\]()|]/g, ' ')
    .split(/\s+/)
    .filter((word) => word.length > 0);
  if (words.length === 0) return DEFAULT_SESSION_NAME;
  let name = '';
  for (const word of words.slice(0, NAME_MAX_WORDS)) {
    const next = name ? `${name} ${word}` : word;
    if ([...next].length > NAME_MAX_CHARS) break;
    name = next;
  }
  if (!name) name = [...words[0]].slice(0, NAME_MAX_CHARS - 1).join('');
  const truncated = name.length < words.join(' ').length;
  return truncated ? `${name}…` : name;
}

// What the chat says in place of a file of a reply the server did not keep: the file failed the
// uploads' checks (docs/protocol.md, "Uploads and files") and the reply came without it.
const REASONS: Record<string, string> = {
  infected: 'it contained malware',
  type: 'its type is not accepted',
  quota: 'your file storage is full',
  too_large: 'it was too large',
  scanner_down: 'it could not be checked for malware',
};

export function droppedText(reason: string, source: string | undefined): string {
  const what = source === 'tts' ? 'The spoken reply' : 'A file of this reply';
  const why = Object.prototype.hasOwnProperty.call(REASONS, reason) ? REASONS[reason] : undefined;
  return why ? `${what} was removed: ${why}.` : `${what} was removed.`;
}

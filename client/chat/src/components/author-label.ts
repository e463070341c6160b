import type { ChatMessage, Sender } from '../chat-store';

export type Labels = Record<Sender, string>;

// Who a message is from, as its header says. An admin's message names the admin who wrote it
// (metadata.admin_name, stored with it), not the one assisting now: a second takeover put the
// first admin's messages under the second's name. One without a name (the dashboard's own, still
// pending) is the assisting admin's.
export function authorLabel(message: ChatMessage, labels: Labels, assistingAdmin?: string): string {
  if (message.sender !== 'admin') return labels[message.sender];
  const name = message.metadata?.admin_name;
  return (typeof name === 'string' && name) || (assistingAdmin ?? labels.admin);
}

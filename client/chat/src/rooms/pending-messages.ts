import type { RoomThread } from './thread-state';

// This user's messages shown before their ack (sent by room-sends.ts), keyed `pending:<client_id>`.

export function addPendingMessage(
  thread: RoomThread,
  input: { clientId: string; userId: string; content: string; replyTo?: string },
): void {
  const key = `pending:${input.clientId}`;
  thread.byKey.set(key, {
    key,
    clientId: input.clientId,
    userId: input.userId,
    content: input.content,
    replyTo: input.replyTo,
    kind: 'text',
    deleted: false,
    reactions: {},
    pending: true,
    timestamp: new Date().toISOString(),
  });
  thread.pendingKeys.set(input.clientId, key);
}

// The sender's ack: the pending message becomes the stored one (once, even when the stored copy
// already arrived by a replay).
export function ackPending(
  thread: RoomThread | undefined,
  clientId: string,
  messageId: string | undefined,
  seq: number | undefined,
  at?: string,
): void {
  const key = thread?.pendingKeys.get(clientId);
  const pending = key ? thread?.byKey.get(key) : undefined;
  if (!thread || !key || !pending || !messageId) return;
  thread.pendingKeys.delete(clientId);
  thread.byKey.delete(key);
  // the message is held now; an ack may come before a lower seq still on its way to this socket,
  // so it counts for the resume point only once that gap fills
  if (seq !== undefined) thread.resume.seen(seq);
  if (thread.byKey.has(messageId)) return;
  thread.byKey.set(messageId, {
    ...pending,
    key: messageId,
    messageId,
    seq,
    timestamp: at ?? pending.timestamp,
    pending: false,
    failed: undefined,
  });
}

// The refusal of a pending message (`code`), or the user's Retry (undefined: on its way again).
export function setFailure(thread: RoomThread | undefined, clientId: string, code: string | undefined): void {
  const key = thread?.pendingKeys.get(clientId);
  const message = key ? thread?.byKey.get(key) : undefined;
  if (message) message.failed = code;
}

import type { RoomClientFrame } from '../../../shared/protocol';

// A message of this user not acked yet: the `chat` frame as first made (its client_id is the one
// the server stores it under once, docs/protocol.md "Guarantees": a resend gets the stored copy's ack).
export interface OutgoingMessage {
  clientId: string;
  frame: RoomClientFrame;
}

// The user's messages to one room on their way, in the order written. One at a time is handed to
// the socket (which sends it again after a reconnect until it is answered), the next once it is
// acked: a message refused RATE_LIMITED goes again after its retry_after ("Rooms", errors), and a
// later one sent meanwhile could reach the server in the next rate window and be stored first.
// The caller sends what `next()` gives and reports the answers.
export class RoomOutbox {
  private queue: OutgoingMessage[] = [];
  // the first message is with the socket ('sent') or waits for its retry_after ('held')
  private first: 'waiting' | 'sent' | 'held' = 'waiting';

  get messages(): readonly OutgoingMessage[] {
    return this.queue;
  }

  has(clientId: string): boolean {
    return this.queue.some((message) => message.clientId === clientId);
  }

  add(message: OutgoingMessage): void {
    if (!this.has(message.clientId)) this.queue.push(message);
  }

  // The message to hand to the socket now, or null (one is with it already, or held).
  next(): OutgoingMessage | null {
    const head = this.queue[0];
    if (!head || this.first !== 'waiting') return null;
    this.first = 'sent';
    return head;
  }

  // Stored (its ack): off the queue. False when it is not queued (settled already).
  acked(clientId: string): boolean {
    return this.remove(clientId) !== undefined;
  }

  // Refused RATE_LIMITED: it stays first, and nothing is sent until release(). False when it is
  // not the message with the socket.
  hold(clientId: string): boolean {
    if (this.queue[0]?.clientId !== clientId || this.first !== 'sent') return false;
    this.first = 'held';
    return true;
  }

  // Its retry_after is over: next() gives it again.
  release(clientId: string): void {
    if (this.queue[0]?.clientId === clientId && this.first === 'held') this.first = 'waiting';
  }

  // Refused for good (waiting would not cure it): off the queue, so the next one goes; the caller
  // keeps it for the user's Retry, which adds it again.
  remove(clientId: string): OutgoingMessage | undefined {
    const index = this.queue.findIndex((message) => message.clientId === clientId);
    if (index < 0) return undefined;
    const [message] = this.queue.splice(index, 1);
    if (index === 0) this.first = 'waiting';
    return message;
  }
}

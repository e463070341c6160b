import { errorText } from '../../../shared/errors';
import type { RoomMessage } from './thread-state';

export interface Delivery {
  text: string;
  // refused for good: the user may send it again (RoomsClient.retry, same client_id)
  retry: boolean;
}

// The line under a message of this user (or one with this user's edit, delete or reaction on its
// way): refused (why, and Retry, as the AI chat's messages), on its way, stored, seen. A message
// waiting for its retry_after is on its way: it goes by itself. Null: nothing to say.
export function deliveryOf(message: RoomMessage, mine: boolean, seen: boolean): Delivery | null {
  if (!mine && !message.opPending) return null;
  if (message.failed) return { text: `Not sent. ${errorText(message.failed)}`, retry: true };
  if (message.pending || message.opPending) return { text: 'Sending…', retry: false };
  return { text: seen ? 'Seen' : 'Sent', retry: false };
}

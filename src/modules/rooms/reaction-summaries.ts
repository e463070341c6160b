import type { Reaction } from './schemas/room-extras.schema';

// What a message's reactions come to: emoji → user ids, and emoji → user id → the reaction's change
// number (docs/protocol.md, "Change log"). Their keys are stored strings: an emoji and a user id as
// the store holds them, from before reactions had to be one emoji or written by another version in a
// rolling deploy. So every object keyed by them is made without a prototype: `__proto__`,
// `constructor` or `toString` is a key like any other, read and written as the object's own data.
// With plain objects a reaction named `__proto__` had `numbers.__proto__[user]` set a property on
// Object.prototype (prom-client then threw and the process died, on every read of the room, the
// reaction being stored), and one named `constructor` or `toString` found a function where the user
// ids go (every read of the room 500). JSON.stringify writes such keys as data, and JSON.parse reads
// them back as own keys.
export type ReactionSummary = Record<string, string[]>;
export type ReactionNumbers = Record<string, Record<string, number>>;

export interface ReactionState {
  // emoji → user ids, per message (taken-back reactions left out)
  byMessage: Map<string, ReactionSummary>;
  // the change number each reaction carries, by reaction id
  changes: Map<string, number>;
  // emoji → user id → number, per message, taken-back reactions too
  changesByMessage: Map<string, ReactionNumbers>;
}

export type StoredReaction = Pick<
  Reaction,
  '_id' | 'message_id' | 'user_id' | 'emoji' | 'removed' | 'change'
>;

// an object to key by stored strings: no prototype, so no key is anything but its own data
export function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

// The reactions of some messages, as read from the store (in `_id` order), summarised. Total: never
// throws, whatever strings the reactions carry.
export function summarizeReactions(found: Iterable<StoredReaction>): ReactionState {
  const byMessage = new Map<string, ReactionSummary>();
  const changes = new Map<string, number>();
  const changesByMessage = new Map<string, ReactionNumbers>();
  for (const reaction of found) {
    const { message_id: messageId, user_id: userId, emoji } = reaction;
    if (typeof reaction.change === 'number') {
      changes.set(reaction._id, reaction.change);
      let numbers = changesByMessage.get(messageId);
      if (!numbers) changesByMessage.set(messageId, (numbers = dictionary()));
      (numbers[emoji] ??= dictionary())[userId] = reaction.change;
    }
    if (reaction.removed) continue;
    let emojis = byMessage.get(messageId);
    if (!emojis) byMessage.set(messageId, (emojis = dictionary()));
    (emojis[emoji] ??= []).push(userId);
  }
  return { byMessage, changes, changesByMessage };
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { CLIENT_IDS_KEPT } from './room-rules';
import { Reaction } from './schemas/room-extras.schema';
import { isDuplicateKey } from '../../common/store-errors';

export type ReactionKey = Pick<Reaction, 'room_id' | 'message_id' | 'user_id' | 'emoji' | 'message_at'>;

// chat_reactions: one document per (message, user, emoji), taken back by a mark (`removed`).
@Injectable()
export class ReactionsRepository implements OnModuleInit {
  constructor(@InjectModel(Reaction.name) private readonly reactions: Model<Reaction>) {}

  async onModuleInit(): Promise<void> {
    await this.reactions.createIndexes();
  }

  // Adds (`on`) or takes back the user's reaction, as it stood at `at` (when the operation reached the
  // server): a document per reaction, kept when taken back (`removed`), so an operation that arrived
  // earlier but lands later finds a newer `at` and changes nothing, and so does a copy of an
  // operation applied already (its `clientId` again: a resend after a cut socket, which its first
  // instance handled late). false: nothing changed. The caller holds the reaction's lock: FerretDB
  // 1.24's compare-and-set is not atomic.
  // `take` (the room's change log, docs/protocol.md "Change log"): called once the operation is to be
  // written, its number stored on the reaction in the same write; a number taken for a write that
  // then changed nothing is the caller's to abandon.
  async set(
    input: ReactionKey,
    on: boolean,
    at: Date,
    clientId?: string,
    take?: () => Promise<number>,
  ): Promise<boolean> {
    const _id = reactionIdOf(input);
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = await this.reactions.findOne({ _id }).lean<Reaction>();
      if (!current) {
        try {
          await this.reactions.create({
            _id,
            ...input,
            removed: !on,
            at,
            client_ids: clientId !== undefined ? [clientId] : [],
            ...(take ? { change: await take() } : {}),
          });
          return true;
        } catch (error) {
          // made meanwhile (another instance that did not wait for the lock): read it again
          if (!isDuplicateKey(error)) throw error;
          continue;
        }
      }
      if (clientId !== undefined && current.client_ids?.includes(clientId)) return false;
      if (current.at && current.at > at) return false;
      const clientIds =
        clientId !== undefined
          ? [...(current.client_ids ?? []), clientId].slice(-CLIENT_IDS_KEPT)
          : (current.client_ids ?? []);
      // ties: the later write (one socket's frames are handled in order); no `at`: written before
      // reactions had one
      const newer: Record<string, unknown>[] = [{ $or: [{ at: null }, { at: { $lte: at } }] }];
      const change = take ? await take() : undefined;
      // and only over a lower change number: the lock makes each number above the one written, but a
      // write outside it (its gap after a Redis restart) may have taken a lower one than a write that
      // landed meanwhile; a device keeps the highest number per reaction (docs/protocol.md, "Change log")
      if (change !== undefined) newer.push({ $or: [{ change: null }, { change: { $lt: change } }] });
      const result = await this.reactions.updateOne(
        { _id, $and: newer },
        { $set: { removed: !on, at, client_ids: clientIds, ...(change !== undefined ? { change } : {}) } },
      );
      return result.matchedCount === 1;
    }
    return false;
  }

  // emoji → user ids, per message
  async forMessages(messageIds: string[]): Promise<Map<string, Record<string, string[]>>> {
    return (await this.stateOf(messageIds)).byMessage;
  }

  // emoji → user ids per message, and the change number each reaction of them carries (by reaction
  // id, and per message emoji → user id → number, taken-back ones too): one read
  async stateOf(messageIds: string[]): Promise<{
    byMessage: Map<string, Record<string, string[]>>;
    changes: Map<string, number>;
    changesByMessage: Map<string, Record<string, Record<string, number>>>;
  }> {
    const byMessage = new Map<string, Record<string, string[]>>();
    const changes = new Map<string, number>();
    const changesByMessage = new Map<string, Record<string, Record<string, number>>>();
    if (messageIds.length === 0) return { byMessage, changes, changesByMessage };
    const found = await this.reactions
      .find({ message_id: { $in: messageIds } })
      .sort({ _id: 1 })
      .lean<Reaction[]>();
    for (const reaction of found) {
      if (typeof reaction.change === 'number') {
        changes.set(reaction._id, reaction.change);
        const numbers = changesByMessage.get(reaction.message_id) ?? {};
        (numbers[reaction.emoji] ??= {})[reaction.user_id] = reaction.change;
        changesByMessage.set(reaction.message_id, numbers);
      }
      if (reaction.removed) continue;
      const emojis = byMessage.get(reaction.message_id) ?? {};
      (emojis[reaction.emoji] ??= []).push(reaction.user_id);
      byMessage.set(reaction.message_id, emojis);
    }
    return { byMessage, changes, changesByMessage };
  }

  async deleteOlderThan(cutoff: Date): Promise<void> {
    await this.reactions.deleteMany({ message_at: { $lt: cutoff } });
  }
}

// a reaction's `_id`: one document per (message, user, emoji)
export function reactionIdOf(key: Pick<Reaction, 'message_id' | 'user_id' | 'emoji'>): string {
  return `${key.message_id}|${key.user_id}|${key.emoji}`;
}

import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { CLIENT_IDS_KEPT } from './room-rules';
import { Reaction } from './schemas/room-extras.schema';
import { compositeKey, plainKey } from '../../common/composite-key';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { isDuplicateKey } from '../../common/store-errors';
import { summarizeReactions, type ReactionState, type ReactionSummary } from './reaction-summaries';

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
  // then changed nothing is the caller's to abandon. `_id`: the document's (idOf, which the change
  // log names too).
  async set(
    input: ReactionKey,
    on: boolean,
    at: Date,
    clientId?: string,
    take?: () => Promise<number>,
    _id = reactionIdOf(input),
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const current = await this.reactions.findOne({ _id }).lean<Reaction>();
      // another reaction's document under this id: one stored before keys were escaped, whose plain
      // id is this reaction's escaped one (its emoji holds `|`); never written over
      if (current && (current.user_id !== input.user_id || current.emoji !== input.emoji))
        throw new DomainException(ErrorCode.INVALID_MESSAGE, 'This reaction cannot be stored.');
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
  async forMessages(messageIds: string[]): Promise<Map<string, ReactionSummary>> {
    return (await this.stateOf(messageIds)).byMessage;
  }

  // emoji → user ids per message, and the change number each reaction of them carries (by reaction
  // id, and per message emoji → user id → number, taken-back ones too): one read (summarizeReactions:
  // whatever strings the stored reactions carry)
  async stateOf(messageIds: string[]): Promise<ReactionState> {
    if (messageIds.length === 0) return summarizeReactions([]);
    const found = await this.reactions
      .find({ message_id: { $in: messageIds } })
      .sort({ _id: 1 })
      .lean<Reaction[]>();
    return summarizeReactions(found);
  }

  // The `_id` of the reaction's document: reactionIdOf, or for a reaction stored before keys were
  // escaped (its user id holds `|` or `\`: the two differ) the plain id it was stored under, when a
  // document of this very reaction is there (its fields, not only its id: a plain id may name
  // another reaction). One read, for those users only.
  async idOf(key: ReactionKey): Promise<string> {
    const id = reactionIdOf(key);
    const plain = plainKey([key.message_id, key.user_id, key.emoji]);
    if (plain === id) return id;
    const stored = await this.reactions
      .findOne({ _id: plain, message_id: key.message_id, user_id: key.user_id, emoji: key.emoji }, { _id: 1 })
      .lean<Pick<Reaction, '_id'>>();
    return stored ? plain : id;
  }

  // The user's reactions standing on the message (not taken back), up to `limit` of their emoji.
  async standingOf(messageId: string, userId: string, limit: number): Promise<string[]> {
    const found = await this.reactions
      .find({ message_id: messageId, user_id: userId, removed: { $ne: true } }, { emoji: 1 })
      .limit(limit)
      .lean<Array<Pick<Reaction, 'emoji'>>>();
    return found.map((reaction) => reaction.emoji);
  }

  async deleteOlderThan(cutoff: Date): Promise<void> {
    await this.reactions.deleteMany({ message_at: { $lt: cutoff } });
  }
}

// a reaction's `_id`: one document per (message, user, emoji), its parts escaped (compositeKey), so
// user `u|x` reacting 🎉 and user `u` reacting `x|🎉` (a reaction stored before they had to be one
// emoji) are two documents
export function reactionIdOf(key: Pick<Reaction, 'message_id' | 'user_id' | 'emoji'>): string {
  return compositeKey([key.message_id, key.user_id, key.emoji]);
}

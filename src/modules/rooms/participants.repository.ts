import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection } from 'mongodb';
import type { Model } from 'mongoose';
import { Participant } from './schemas/participant.schema';
import {
  participantId,
  type ParticipantRecord,
  type ParticipantRole,
  type ParticipantState,
} from './room.types';
import { isDuplicateKey, upsertRetried } from '../../common/store-errors';

// chat_participants: who belongs to which room, in what role and state.
@Injectable()
export class ParticipantsRepository implements OnModuleInit {
  constructor(@InjectModel(Participant.name) private readonly participants: Model<Participant>) {}

  async onModuleInit(): Promise<void> {
    await this.participants.createIndexes();
  }

  // Read for every room message sent (the sender's membership): by `_id` through the driver, what
  // mongoose's lean() gave without its query building and casting (bench/README.md, "Rooms").
  async find(roomId: string, userId: string): Promise<ParticipantRecord | null> {
    const collection = this.participants.collection as unknown as Collection<Participant>;
    return toRecord(await collection.findOne({ _id: participantId(roomId, userId) }));
  }

  // Several users' memberships of one room, by user (one read of their `_id`s).
  async findMany(roomId: string, userIds: string[]): Promise<Map<string, ParticipantRecord>> {
    const found = await this.participants
      .find({ _id: { $in: userIds.map((userId) => participantId(roomId, userId)) } })
      .lean<Participant[]>();
    return new Map(found.map((participant) => [participant.user_id, toRecord(participant)!]));
  }

  // One user's memberships of several rooms, by room (one read of their `_id`s).
  async ofUserIn(userId: string, roomIds: string[]): Promise<Map<string, ParticipantRecord>> {
    if (roomIds.length === 0) return new Map();
    const found = await this.participants
      .find({ _id: { $in: roomIds.map((roomId) => participantId(roomId, userId)) } })
      .lean<Participant[]>();
    return new Map(found.map((participant) => [participant.room_id, toRecord(participant)!]));
  }

  // Sets the state (and the role when given), creating the document when missing. Keyed by `_id`, so
  // two instances upserting the same member make one document.
  async put(
    roomId: string,
    userId: string,
    changes: { state: ParticipantState; role?: ParticipantRole; muted_until?: Date | null; admin?: boolean },
    now = new Date(),
  ): Promise<void> {
    const set: Record<string, unknown> = { ...changes, updated_at: now };
    if (set.role === undefined) delete set.role;
    if (set.admin === undefined) delete set.admin;
    else set.admin_at = now;
    // a field may not be in both $set and $setOnInsert
    const defaults: Record<string, unknown> = { role: 'member', muted_until: null };
    const onInsert: Record<string, unknown> = { room_id: roomId, user_id: userId };
    for (const [key, value] of Object.entries(defaults)) if (!(key in set)) onInsert[key] = value;
    // two upserts of one new document race: the loser's insert fails, its update then matches
    await upsertRetried(() =>
      this.participants.updateOne(
        { _id: participantId(roomId, userId) },
        { $set: set, $setOnInsert: onInsert },
        { upsert: true },
      ),
    );
  }

  // Sets the state only if it is still `from` when the write lands (null: no document yet); false when
  // it changed meanwhile. A join, leave or invitation checks the membership and then writes it: a kick
  // or ban landing in between, on any instance, is not written over (docs/protocol.md, "Rooms, direct
  // messages, moderation"). A compare on the state, or a unique insert of the `_id`. `role`, when
  // given, is set with the state (a moderator who leaves or comes back is a member again); `admin`,
  // when given, is what the user's own token said (a join).
  async move(
    roomId: string,
    userId: string,
    from: ParticipantState | null,
    to: ParticipantState,
    role?: ParticipantRole,
    admin?: boolean,
    now = new Date(),
  ): Promise<boolean> {
    const _id = participantId(roomId, userId);
    const seen = admin !== undefined ? { admin, admin_at: now } : {};
    if (from !== null) {
      const result = await this.participants.updateOne(
        { _id, state: from },
        { $set: { state: to, ...(role !== undefined ? { role } : {}), ...seen, updated_at: now } },
      );
      return result.matchedCount === 1;
    }
    try {
      await this.participants.create({
        _id,
        room_id: roomId,
        user_id: userId,
        role: role ?? 'member',
        state: to,
        muted_until: null,
        ...seen,
        updated_at: now,
      });
      return true;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      return false;
    }
  }

  async setMute(roomId: string, userId: string, until: Date | null): Promise<void> {
    await this.participants.updateOne(
      { _id: participantId(roomId, userId) },
      { $set: { muted_until: until, updated_at: new Date() } },
    );
  }

  // what the user's own token says now, written when a join finds them a member already with
  // another word of it (the caller holds the membership's lock)
  async setAdmin(roomId: string, userId: string, admin: boolean, now = new Date()): Promise<void> {
    await this.participants.updateOne(
      { _id: participantId(roomId, userId) },
      { $set: { admin, admin_at: now, updated_at: now } },
    );
  }

  // Whether the user is a chatbox admin as rooms last saw them: what their token said the last time
  // they wrote a membership of their own, in any room (the newest `admin_at`; documents without it
  // sort last). False for a user never seen so, or never in a room. A moderation reads it to spare
  // admins the room's owner and moderators (room-rules moderationRefusal).
  async adminAsLastSeen(userId: string): Promise<boolean> {
    const [newest] = await this.participants
      .find({ user_id: userId }, { admin: 1, admin_at: 1 })
      .sort({ admin_at: -1, _id: 1 })
      .limit(1)
      .lean<Array<Pick<Participant, 'admin' | 'admin_at'>>>();
    return newest?.admin_at !== undefined && newest.admin === true;
  }

  async setRole(roomId: string, userId: string, role: ParticipantRole): Promise<void> {
    await this.participants.updateOne(
      { _id: participantId(roomId, userId) },
      { $set: { role, updated_at: new Date() } },
    );
  }

  async ofUser(userId: string, states: ParticipantState[]): Promise<ParticipantRecord[]> {
    const found = await this.participants
      .find({ user_id: userId, state: { $in: states } })
      .lean<Participant[]>();
    return found.map((participant) => toRecord(participant) as ParticipantRecord);
  }

  // a user's open invitations, the newest first (a room list shows at most `limit` of them)
  async invitationsOf(userId: string, limit: number): Promise<ParticipantRecord[]> {
    const found = await this.participants
      .find({ user_id: userId, state: 'invited' })
      .sort({ updated_at: -1, _id: 1 })
      .limit(limit)
      .lean<Participant[]>();
    return found.map((participant) => toRecord(participant) as ParticipantRecord);
  }

  async countInvited(userId: string): Promise<number> {
    return this.participants.countDocuments({ user_id: userId, state: 'invited' });
  }

  async ofRoom(roomId: string, states: ParticipantState[], limit = 1000): Promise<ParticipantRecord[]> {
    const found = await this.participants
      .find({ room_id: roomId, state: { $in: states } })
      .sort({ user_id: 1 })
      .limit(limit)
      .lean<Participant[]>();
    return found.map((participant) => toRecord(participant) as ParticipantRecord);
  }

  async countMembers(roomId: string): Promise<number> {
    return this.participants.countDocuments({ room_id: roomId, state: 'member' });
  }
}

function toRecord(participant: Participant | null): ParticipantRecord | null {
  if (!participant) return null;
  return {
    room_id: participant.room_id,
    user_id: participant.user_id,
    role: participant.role,
    state: participant.state,
    muted_until: participant.muted_until ?? null,
    ...(participant.admin !== undefined ? { admin: participant.admin } : {}),
  };
}

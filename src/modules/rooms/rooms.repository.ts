import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection } from 'mongodb';
import type { Model } from 'mongoose';
import { Room } from './schemas/room.schema';
import type { RoomKind, RoomRecord } from './room.types';
import { isDuplicateKey } from '../../common/store-errors';
import { containsPattern, nameKey, type PublicRoomCursor } from './public-room-search';

// chat_rooms: mongoose lives here only; plain records out.
@Injectable()
export class RoomsRepository implements OnModuleInit {
  constructor(@InjectModel(Room.name) private readonly rooms: Model<Room>) {}

  async onModuleInit(): Promise<void> {
    await this.rooms.createIndexes();
  }

  // false when a room with this id exists already (a direct message opened by both users at once)
  async insert(room: Omit<RoomRecord, 'last_seq' | 'last_message_at' | 'ai_model'>): Promise<boolean> {
    const { id, ...rest } = room;
    try {
      await this.rooms.create({
        _id: id,
        ...rest,
        name_key: nameKey(rest.name),
        last_seq: 0,
        last_message_at: null,
      });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  // Read for every room message sent: by `_id` through the driver, what mongoose's lean() gave
  // without its query building and casting (bench/README.md, "Rooms").
  // the public and private rooms `userId` made (direct messages are no one's to make)
  countOwned(userId: string): Promise<number> {
    return this.rooms.countDocuments({ owner_id: userId, kind: { $in: ['public', 'private'] } });
  }

  async find(roomId: string): Promise<RoomRecord | null> {
    return toRecord(await (this.rooms.collection as unknown as Collection<Room>).findOne({ _id: roomId }));
  }

  async findMany(roomIds: string[]): Promise<RoomRecord[]> {
    if (roomIds.length === 0) return [];
    const found = await this.rooms.find({ _id: { $in: roomIds } }).lean<Room[]>();
    return found.map((room) => toRecord(room) as RoomRecord);
  }

  async listByKind(kind: RoomKind, limit: number): Promise<RoomRecord[]> {
    const found = await this.rooms
      .find({ kind })
      .sort({ last_message_at: -1, _id: 1 })
      .limit(limit)
      .lean<Room[]>();
    return found.map((room) => toRecord(room) as RoomRecord);
  }

  // A page of public rooms by name (`name_key`, then `_id`: a total order) after `after`, those whose
  // key holds `query` (public-room-search.ts), one more than `limit` to tell whether more follow. On
  // the (kind, name_key, _id) index: a range of it per page, the search tested on its keys.
  async publicByName(
    query: string,
    after: PublicRoomCursor | undefined,
    limit: number,
  ): Promise<Array<{ room: RoomRecord; key: string }>> {
    const pattern = containsPattern(query);
    const filter: Record<string, unknown> = { kind: 'public' };
    if (pattern !== '') filter.name_key = { $regex: pattern };
    if (after)
      filter.$or = [{ name_key: { $gt: after.key } }, { name_key: after.key, _id: { $gt: after.id } }];
    const found = await this.rooms
      .find(filter)
      .sort({ name_key: 1, _id: 1 })
      .limit(limit + 1)
      .lean<Room[]>();
    return found.map((room) => ({ room: toRecord(room) as RoomRecord, key: room.name_key ?? '' }));
  }

  // public rooms made before `name_key` was written, a page at a time
  async publicWithoutKey(limit: number): Promise<Array<{ id: string; name: string }>> {
    // a room renamed to null before REST bodies refused null has no name (room-views.ts)
    const found = await this.rooms
      .find({ kind: 'public', name_key: { $exists: false } }, { name: 1 })
      .limit(limit)
      .lean<Array<{ _id: string; name: string | null }>>();
    return found.map((room) => ({ id: room._id, name: room.name ?? '' }));
  }

  // the key of a room made before it was written, unless it has one meanwhile (a rename wrote it);
  // the caller holds the room document's lock
  async writeKey(roomId: string, name: string): Promise<void> {
    await this.rooms.updateOne(
      { _id: roomId, name_key: { $exists: false } },
      { $set: { name_key: nameKey(name) } },
    );
  }

  // admin listing: every room, newest first
  async listAll(skip: number, limit: number): Promise<{ items: RoomRecord[]; total: number }> {
    const [found, total] = await Promise.all([
      this.rooms.find({}).sort({ created_at: -1, _id: 1 }).skip(skip).limit(limit).lean<Room[]>(),
      this.rooms.countDocuments({}),
    ]);
    return { items: found.map((room) => toRecord(room) as RoomRecord), total };
  }

  async update(
    roomId: string,
    changes: { name?: string; topic?: string | null; ai_model?: string | null },
  ): Promise<void> {
    const key = changes.name !== undefined ? { name_key: nameKey(changes.name) } : {};
    await this.rooms.updateOne({ _id: roomId }, { $set: { ...changes, ...key } });
  }

  // The list's sort key, and the seq numbering resumes from once retention has removed every message
  // of the room. Monotonic on MongoDB; on FerretDB a concurrent $max may keep the lower value (an
  // unlocked read-modify-write), which the next note or the retention sweep's corrects.
  async noteMessage(roomId: string, seq: number, at: Date): Promise<void> {
    await this.rooms.updateOne({ _id: roomId }, { $max: { last_seq: seq, last_message_at: at } });
  }

  // the highest seq handed out in the room, set by the retention sweep before it removes anything
  async noteSeq(roomId: string, seq: number): Promise<void> {
    await this.rooms.updateOne({ _id: roomId }, { $max: { last_seq: seq } });
  }
}

function toRecord(room: Room | null): RoomRecord | null {
  if (!room) return null;
  const record: RoomRecord = {
    id: room._id,
    kind: room.kind,
    name: room.name,
    topic: room.topic ?? null,
    owner_id: room.owner_id,
    created_at: room.created_at,
    last_seq: room.last_seq ?? 0,
    last_message_at: room.last_message_at ?? null,
    ai_model: room.ai_model ?? null,
  };
  if (room.dm_users) record.dm_users = room.dm_users;
  return record;
}

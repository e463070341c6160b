import { Logger } from '@nestjs/common';
import type { Model } from 'mongoose';
import type { Settings } from '../../config/settings';
import type { RoomMessage } from './schemas/room-message.schema';

const TTL_BACKSTOP_MS = 86_400_000;

// What retention reads and removes of chat_messages (RoomMessagesRepository.roomsBefore, filesBefore,
// filesInUse, deleteOlderThan) and the index it sweeps by, which only that class constructs.
export class RoomMessageRetention {
  private readonly logger = new Logger('rooms');

  constructor(
    private readonly messages: Model<RoomMessage>,
    private readonly settings: Settings,
  ) {}

  // rooms with messages older than `cutoff`
  async roomsBefore(cutoff: Date): Promise<string[]> {
    return (await this.messages.distinct('room_id', { created_at: { $lt: cutoff } })) as string[];
  }

  // the files shared by messages older than `cutoff`, by room
  async filesBefore(cutoff: Date): Promise<Map<string, string[]>> {
    const found = await this.messages
      .find({ created_at: { $lt: cutoff }, file_id: { $exists: true } }, { room_id: 1, file_id: 1 })
      .lean<Array<{ room_id: string; file_id: string }>>();
    const byRoom = new Map<string, string[]>();
    for (const { room_id, file_id } of found) byRoom.set(room_id, [...(byRoom.get(room_id) ?? []), file_id]);
    return byRoom;
  }

  // those of `fileIds` some message of the room still shares
  async filesInUse(roomId: string, fileIds: string[]): Promise<Set<string>> {
    const found = await this.messages
      .find({ room_id: roomId, file_id: { $in: fileIds } }, { file_id: 1 })
      .lean<Array<{ file_id: string }>>();
    return new Set(found.map((message) => message.file_id));
  }

  async deleteOlderThan(cutoff: Date): Promise<number> {
    const result = await this.messages.deleteMany({ created_at: { $lt: cutoff } });
    return result.deletedCount;
  }

  // The retention sweep (RoomRetentionService) removes expired messages on every store, after noting
  // each room's highest seq. FerretDB 1.24 refuses TTL indexes (store conformance suite) and gets a
  // plain index for the sweep; MongoDB gets a TTL index a day past the retention as a backstop for an
  // instance that stopped sweeping.
  async ensureRetentionIndex(): Promise<void> {
    const expireAfterSeconds = Math.floor((this.settings.rooms.retentionMs + TTL_BACKSTOP_MS) / 1000);
    const collection = this.messages.collection;
    try {
      await collection.createIndex({ created_at: 1 }, { name: 'created_at_ttl', expireAfterSeconds });
    } catch (error) {
      const code = (error as { code?: number; codeName?: string }).codeName;
      if (code === 'IndexOptionsConflict' || code === 'IndexKeySpecsConflict') {
        // ROOM_RETENTION changed since the index was made
        await this.messages.db.db!.command({
          collMod: collection.collectionName,
          index: { name: 'created_at_ttl', expireAfterSeconds },
        });
        return;
      }
      this.logger.log(
        { event: 'ttl_unavailable' },
        'no TTL index on this store; the retention sweep removes old messages',
      );
      await collection.createIndex({ created_at: 1 }, { name: 'created_at_1' });
    }
  }
}

import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { ParticipantsRepository } from './participants.repository';
import { publicRoomCursor, type PublicRoomCursor } from './public-room-search';
import { roomDocumentKey } from './room-locks';
import type { ParticipantRecord, RoomRecord } from './room.types';
import { RoomsRepository } from './rooms.repository';

// public rooms made before their key was written, keyed this many at a time at start
const KEY_BATCH = 500;

export interface PublicRoomPage {
  items: Array<{ room: RoomRecord; participant: ParticipantRecord | null }>;
  // where the next page starts; null on the last page
  next: string | null;
}

// Every public room, found by name (ROOM-001, "public rooms anyone may list"; docs/protocol.md,
// "Finding public rooms"): GET /rooms shows the 100 most active only, so a quiet room past them could
// not be found. Pages by name with a stable cursor, and a search anywhere in the name.
@Injectable()
export class PublicRoomsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('rooms');

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    // the room's own document is written under its lock (room-locks.ts)
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  // Public rooms made before `name_key` get it once (every instance may: the write is conditional and
  // the same on each), so the pages hold them too: schema evolution without a migration step. A
  // failure is logged and leaves those rooms to the next start (GET /rooms still lists them).
  async onApplicationBootstrap(): Promise<void> {
    const seen = new Set<string>();
    try {
      for (;;) {
        const batch = (await this.rooms.publicWithoutKey(KEY_BATCH)).filter(({ id }) => !seen.has(id));
        for (const { id, name } of batch) {
          seen.add(id);
          await this.lock.run(roomDocumentKey(id), () => this.rooms.writeKey(id, name));
        }
        if (batch.length === 0) break;
      }
    } catch (error) {
      this.logger.warn({ event: 'room_name_keys_failed', err: String(error) }, 'public rooms not keyed');
    }
    if (seen.size > 0)
      this.logger.log({ event: 'room_name_keys_written', count: seen.size }, 'public rooms keyed');
  }

  // A page of `limit` public rooms by name after `after`, those whose name holds `query` (any case),
  // each with the user's membership (null: never in it).
  async browse(
    principal: Principal,
    query: string,
    after: PublicRoomCursor | undefined,
    limit: number,
  ): Promise<PublicRoomPage> {
    const found = await this.rooms.publicByName(query, after, limit);
    const page = found.slice(0, limit);
    const memberships = await this.participants.ofUserIn(
      principal.userId,
      page.map(({ room }) => room.id),
    );
    const last = page.at(-1);
    return {
      items: page.map(({ room }) => ({ room, participant: memberships.get(room.id) ?? null })),
      next: found.length > limit && last ? publicRoomCursor({ key: last.key, id: last.room.id }) : null,
    };
  }
}

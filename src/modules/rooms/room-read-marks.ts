import type { Principal } from '../../common/auth/principal';
import type { BlocksRepository } from './blocks.repository';
import type { ReadMarksRepository } from './read-marks.repository';
import type { RoomHub } from './room-hub';
import type { RoomMessagesRepository } from './room-messages.repository';
import type { RoomRecord } from './room.types';

// how many messages after a member's read mark an unread count looks at
export const UNREAD_WINDOW = 100;

export interface Unread {
  count: number;
  // more messages follow the counted window: the count is a lower bound
  more: boolean;
}

// Members' read marks and the unread counts after them (RoomMessagesService.readMark, read, unread).
export class RoomReadMarks {
  constructor(
    private readonly readMarks: ReadMarksRepository,
    private readonly messages: RoomMessagesRepository,
    private readonly hub: RoomHub,
    // the membership check (RoomMessagesService.memberOf)
    private readonly memberOf: (roomId: string, userId: string) => Promise<{ room: RoomRecord }>,
    private readonly blocks: Pick<BlocksRepository, 'isBlockedEitherWay' | 'blockedBy'>,
  ) {}

  // the member's read mark (0: nothing read)
  async readMark(roomId: string, userId: string): Promise<number> {
    return (await this.readMarks.of([roomId], userId)).get(roomId) ?? 0;
  }

  // The member has read up to `seq`, held at the room's newest message: a mark past it would hide
  // every later message from the unread count, and tell the other side of a direct message that
  // messages not yet written were read. When the mark moved, the reader's own devices hear it in
  // every room (each one's badge drops), and in a direct message the other side too (a read
  // receipt): a read behind the mark (an older device) keeps the mark and sends nothing (it sent the
  // lower seq, which told the other side less had been read), and no receipt crosses a block either
  // way (docs/protocol.md, "Rooms, direct messages, moderation").
  async read(principal: Principal, roomId: string, seq: number): Promise<void> {
    const { room } = await this.memberOf(roomId, principal.userId);
    const upTo = await this.messages.readableUpTo(roomId, seq, room.last_seq);
    const mark = await this.readMarks.mark(roomId, principal.userId, upTo);
    if (mark > upTo) return;
    const receipt = {
      type: 'read' as const,
      room_id: roomId,
      user_id: principal.userId,
      timestamp: new Date().toISOString(),
      seq: upTo,
    };
    // a group room's read marks are the reader's own: until the client audit (t7) they went nowhere,
    // and the user's other tab kept the badge of a room read on the first
    if (room.kind !== 'dm') return this.hub.toUserSockets(principal.userId, receipt);
    const other = room.dm_users?.find((candidate) => candidate !== principal.userId);
    // across a block, to the reader's own devices only: their read mark moves on each (until the
    // second rooms audit fix they got nothing either)
    if (other !== undefined && (await this.blocks.isBlockedEitherWay(principal.userId, other)))
      this.hub.toUserSockets(principal.userId, receipt);
    else this.hub.toRoom(roomId, receipt);
  }

  // Unread messages per room: others' text messages after the member's read mark, counted over the
  // first UNREAD_WINDOW messages after it (`more`: others follow; docs/protocol.md, "Rooms"), the
  // messages of users the member blocked left out (their client shows them collapsed, not as news).
  // Every room's window counted in one store command (RoomMessagesRepository.unreadOf), the member's
  // blocks read beside the marks. `rooms`: the rooms as read (their `last_seq` spares the look past a
  // window behind it); `marks`: the user's read marks, when read already.
  async unread(
    userId: string,
    roomIds: string[],
    rooms?: ReadonlyMap<string, RoomRecord>,
    marks?: ReadonlyMap<string, number>,
  ): Promise<Map<string, Unread>> {
    const [read, blocked] = await Promise.all([
      marks ?? this.readMarks.of(roomIds, userId),
      roomIds.length > 0 ? this.blocks.blockedBy(userId) : [],
    ]);
    return this.messages.unreadOf(
      roomIds.map((roomId) => ({
        roomId,
        after: read.get(roomId) ?? 0,
        stored: rooms?.get(roomId)?.last_seq,
      })),
      [userId, ...blocked],
      UNREAD_WINDOW,
    );
  }
}

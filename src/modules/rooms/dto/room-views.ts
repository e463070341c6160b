import type { RoomSummary } from '../rooms.service';
import type { ReportRecord } from '../reports.repository';
import type { ParticipantRecord, RoomRecord } from '../room.types';

// REST shapes (snake_case), built in one place.
export function roomView(room: RoomRecord) {
  return {
    id: room.id,
    kind: room.kind,
    // a room renamed to null before REST bodies refused null (docs/protocol.md, "Bad input") reads
    // as a room without a name: the document says a string, and typed clients decode it as one
    name: (room.name as string | null) ?? '',
    topic: room.topic,
    owner_id: room.owner_id,
    ...(room.dm_users ? { dm_users: room.dm_users } : {}),
    created_at: room.created_at.toISOString(),
    last_message_at: room.last_message_at?.toISOString() ?? null,
    ai_model: room.ai_model,
  };
}

// a public room as GET /rooms/public lists it: the room and the user's membership of it
export function publicRoomView({
  room,
  participant,
}: {
  room: RoomRecord;
  participant: ParticipantRecord | null;
}) {
  return { ...roomView(room), membership: participant?.state ?? null };
}

export function roomSummaryView({ room, participant, unread, readSeq }: RoomSummary) {
  const member = participant?.state === 'member';
  return {
    ...roomView(room),
    membership: participant?.state ?? null,
    role: member ? participant.role : null,
    unread_count: unread.count,
    unread_more: unread.more,
    // GET /rooms, members only (0: nothing read)
    ...(member && readSeq !== undefined ? { read_seq: readSeq } : {}),
  };
}

// a report as admins read it: the reported message as it was when reported (null for reports made
// before that was kept)
export function reportView({ reported, at, ...report }: ReportRecord) {
  return {
    ...report,
    reported: reported
      ? {
          ...reported,
          sent_at: reported.sent_at.toISOString(),
          ...(reported.edited_at ? { edited_at: reported.edited_at.toISOString() } : {}),
        }
      : null,
    at: at.toISOString(),
  };
}

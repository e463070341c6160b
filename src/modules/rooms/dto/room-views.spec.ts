import { reportedOf } from '../room-reports.service';
import type { RoomMessageRecord, RoomRecord } from '../room.types';
import { publicRoomView, reportView, roomView } from './room-views';

const room = (name: string | null): RoomRecord =>
  ({
    id: 'r1',
    kind: 'public',
    name,
    topic: null,
    owner_id: 'alice',
    created_at: new Date('2026-12-04T10:00:00Z'),
    last_message_at: null,
    ai_model: null,
  }) as unknown as RoomRecord;

describe('roomView', () => {
  it('should give a room its name', () => {
    expect(roomView(room('Lobby')).name).toBe('Lobby');
  });

  // stored by PATCH {"name": null} before REST bodies refused null
  it('should give a room renamed to null an empty name, never null', () => {
    expect(roomView(room(null)).name).toBe('');
  });
});

describe('publicRoomView', () => {
  it("should give the user's membership, null when never in the room", () => {
    expect(publicRoomView({ room: room('Lobby'), participant: null }).membership).toBeNull();
    expect(
      publicRoomView({
        room: room('Lobby'),
        participant: { room_id: 'r1', user_id: 'u', role: 'member', state: 'banned', muted_until: null },
      }).membership,
    ).toBe('banned');
  });
});

describe('reportView and reportedOf', () => {
  const message = (overrides: Partial<RoomMessageRecord> = {}): RoomMessageRecord => ({
    id: 'm1',
    room_id: 'r1',
    seq: 7,
    sender_id: 'bob',
    kind: 'text',
    content: 'rude words',
    metadata: { file: { name: 'rude.png', size: 3, mime_type: 'image/png' } },
    created_at: new Date('2026-12-04T10:00:00Z'),
    edited_at: null,
    deleted_at: null,
    ...overrides,
  });
  const report = (reported: ReturnType<typeof reportedOf> | null) =>
    reportView({
      id: 'p1',
      room_id: 'r1',
      message_id: 'm1',
      reporter_id: 'alice',
      sender_id: 'bob',
      reported,
      at: new Date('2026-12-04T11:00:00Z'),
    });

  it('should keep the text, file name, seq and times of the message as reported', () => {
    const edited = new Date('2026-12-04T10:30:00Z');
    expect(report(reportedOf(message({ edited_at: edited })))).toEqual({
      id: 'p1',
      room_id: 'r1',
      message_id: 'm1',
      reporter_id: 'alice',
      sender_id: 'bob',
      reported: {
        seq: 7,
        sent_at: '2026-12-04T10:00:00.000Z',
        edited_at: '2026-12-04T10:30:00.000Z',
        content: 'rude words',
        file_name: 'rude.png',
      },
      at: '2026-12-04T11:00:00.000Z',
    });
  });

  it('should keep no text or file of a message deleted before it was reported', () => {
    const deleted = reportedOf(message({ content: undefined, deleted_at: new Date() }));
    expect(deleted).toEqual({ seq: 7, sent_at: new Date('2026-12-04T10:00:00Z'), deleted: true });
  });

  it('should show a report made before reports kept the message as null', () => {
    expect(report(null).reported).toBeNull();
  });
});

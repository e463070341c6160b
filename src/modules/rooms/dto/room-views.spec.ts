import type { RoomRecord } from '../room.types';
import { roomView } from './room-views';

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

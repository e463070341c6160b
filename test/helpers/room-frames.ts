import type { RoomMessageFrame, RoomServerFrame } from '../../src/protocol/rooms';

// Room frames of room r1 as the server sends them, for unit tests of what holds and replays them.

// someone's message at `seq`
export function chatFrame(seq: number): RoomMessageFrame {
  return {
    type: 'chat',
    room_id: 'r1',
    message_id: `m${seq}`,
    seq,
    user_id: 'someone',
    timestamp: new Date(0).toISOString(),
    metadata: { kind: 'text' },
  };
}

// an edit of the message at `seq`, with the room's change number when given
export function editFrame(seq: number, change?: number): RoomServerFrame {
  return {
    type: 'edit',
    room_id: 'r1',
    message_id: `m${seq}`,
    seq,
    user_id: 'someone',
    timestamp: new Date(0).toISOString(),
    content: 'edited',
    metadata: { edited_at: new Date(0).toISOString(), ...(change !== undefined ? { change } : {}) },
  };
}

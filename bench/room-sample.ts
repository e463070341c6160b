import { randomUUID } from 'node:crypto';
import type { RoomServerFrame } from '../src/protocol/rooms';

// A room message frame as chatbox fans it out (~300 bytes), for the fan-out micro-benches.
export function sampleRoomFrame(roomId: string, seq: number): RoomServerFrame {
  return {
    type: 'chat',
    room_id: roomId,
    message_id: randomUUID(),
    seq,
    user_id: 'sender-0001',
    client_id: `${Date.now()}000.0.1.${seq}`,
    timestamp: new Date().toISOString(),
    content: 'a message of about the length people type in a room, sixty-ish',
    metadata: { kind: 'text' },
  } as RoomServerFrame;
}

import { isRoomFrame } from './rooms';

describe('isRoomFrame', () => {
  it('should tell a room read (it names its room) from the AI chat read receipt', () => {
    expect(isRoomFrame({ type: 'read', room_id: 'r', seq: 3 })).toBe(true);
    expect(isRoomFrame({ type: 'read', id: 'm-1', client_id: 'c' })).toBe(false);
  });

  it('should take the other room types by type alone and nothing else', () => {
    expect(isRoomFrame({ type: 'join', room_id: 'r' })).toBe(true);
    expect(isRoomFrame({ type: 'heartbeat' })).toBe(true);
    expect(isRoomFrame({ type: 'user_message', content: 'hi' })).toBe(false);
    expect(isRoomFrame(null)).toBe(false);
    expect(isRoomFrame('read')).toBe(false);
  });
});

import fc from 'fast-check';
import { CLIENT_MESSAGE_TYPES } from './frames';
import { isRoomClientFrame, ROOM_CLIENT_TYPES } from './rooms';

describe(isRoomClientFrame.name, () => {
  it("should send a `read` to the rooms only when it names a room (else it is the AI chat's receipt)", () => {
    expect(isRoomClientFrame({ type: 'read', room_id: 'r1', seq: 3 })).toBe(true);
    expect(isRoomClientFrame({ type: 'read', id: 'm-8', client_id: 'c' })).toBe(false);
    expect(isRoomClientFrame({ type: 'chat', content: 'hi' })).toBe(true);
    expect(isRoomClientFrame({ type: 'user_message', room_id: 'r1' })).toBe(false);
    expect(isRoomClientFrame(null)).toBe(false);
    expect(isRoomClientFrame('read')).toBe(false);
  });

  it('should give every frame to exactly the protocol that has its type', () => {
    const types = [...new Set<string>([...ROOM_CLIENT_TYPES, ...CLIENT_MESSAGE_TYPES, 'other'])];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.option(fc.string(), { nil: undefined }), (type, roomId) => {
        const frame = roomId === undefined ? { type } : { type, room_id: roomId };
        const room = (ROOM_CLIENT_TYPES as readonly string[]).includes(type);
        const chat = (CLIENT_MESSAGE_TYPES as readonly string[]).includes(type);
        const expected = room && (!chat || roomId !== undefined);
        expect(isRoomClientFrame(frame)).toBe(expected);
      }),
    );
  });
});

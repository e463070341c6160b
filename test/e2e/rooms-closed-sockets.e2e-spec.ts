import { PresenceService } from '../../src/modules/presence/presence.service';
import { RoomHub } from '../../src/modules/rooms/room-hub';
import { RoomMessagesService } from '../../src/modules/rooms/room-messages.service';
import { RoomMembershipService } from '../../src/modules/rooms/room-membership.service';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { createRoom, join, roomsSocket, say } from './rooms.helpers';

// A socket that closes while one of its frames is being handled (a join waiting for the store, a
// heartbeat waiting for its rate check) leaves nothing behind: its close already dropped it from the
// room hub and from presence, and what the frame does after that must not put it back, or the
// instance keeps the dead socket (and fans the room out to it) for as long as it runs.
describe('rooms: a socket closed mid-frame (e2e)', () => {
  let server: RunningApp;
  let hub: RoomHub;
  let presence: PresenceService;

  beforeAll(async () => {
    server = await startApp({ ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
    hub = server.app.get(RoomHub);
    presence = server.app.get(PresenceService);
  });
  afterAll(() => server.close());
  afterEach(() => jest.restoreAllMocks());

  // the hub's and presence's own maps: nothing else shows what the instance still holds
  const held = () => {
    const inside = hub as unknown as {
      rooms: Map<string, Map<string, unknown>>;
      ofConnection: Map<string, Set<string>>;
      ofUser: Map<string, Set<unknown>>;
    };
    return {
      rooms: inside.rooms,
      ofConnection: inside.ofConnection.size,
      ofUser: inside.ofUser.size,
      presence: (presence as unknown as { local: Map<string, unknown> }).local.size,
    };
  };
  const slowAfter = <T extends object>(target: T, method: keyof T & string, delayMs = 200) => {
    const original = (target[method] as (...args: unknown[]) => Promise<unknown>).bind(target);
    jest.spyOn(target, method as never).mockImplementation((async (...args: unknown[]) => {
      const result = await original(...args);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return result;
    }) as never);
  };
  const settled = () => new Promise((resolve) => setTimeout(resolve, 500));

  it('should not subscribe a socket whose join finished after it closed, nor fan the room out to it', async () => {
    const owner = { id: uniqueUser(), token: '' };
    owner.token = userToken(owner.id);
    const roomId = await createRoom(server, owner.token);
    const speaker = await roomsSocket(server, owner.token);
    await join(speaker, roomId);
    const before = held();
    slowAfter(server.app.get(RoomMembershipService), 'join');
    const leaving = await roomsSocket(server, userToken(uniqueUser()));
    leaving.send({ type: 'join', room_id: roomId, client_id: 'j' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaving.socket.terminate();
    await settled();
    expect(held().rooms.get(roomId)?.size).toBe(1);
    expect(held()).toMatchObject({
      ofConnection: before.ofConnection,
      ofUser: before.ofUser,
      presence: before.presence,
    });
    // the room still works for who is in it
    expect((await say(speaker, roomId, 'still here', 'm1')).type).toBe('ack');
    await speaker.close();
  });

  it("should forget the pace of a room's presence frames once nobody here is in it", async () => {
    const owner = uniqueUser();
    const roomId = await createRoom(server, userToken(owner));
    const only = await roomsSocket(server, userToken(owner));
    await join(only, roomId);
    // the joiner's own presence went out to the room, and set its pace
    await only.next((frame) => frame.type === 'presence', 3_000);
    const paced = (hub as unknown as { presencePace: { presenceSentAt: Map<string, number> } }).presencePace
      .presenceSentAt;
    expect(paced.has(roomId)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await only.close();
    await settled();
    expect(held().rooms.has(roomId)).toBe(false);
    expect(paced.has(roomId)).toBe(false);
  });

  it('should not count for presence a socket whose heartbeat was handled after it closed', async () => {
    const before = held();
    slowAfter(server.app.get(RoomMessagesService), 'checkRate');
    const leaving = await roomsSocket(server, userToken(uniqueUser()));
    leaving.send({ type: 'heartbeat', client_id: 'h', metadata: { status: 'away' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaving.socket.terminate();
    await settled();
    expect(held()).toMatchObject({ ofUser: before.ofUser, presence: before.presence });
  });
});

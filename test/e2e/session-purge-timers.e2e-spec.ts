import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { adminToken, uniqueUser } from '../helpers/tokens';
import { api, createRoom, join, roomsSocket, TwoInstances, waitUntil } from './rooms.helpers';
import { adminRead, ChatUser } from './session-purge.helpers';
import { filesUnder } from './uploads.helpers';

// Black box: two instances on one store and one Redis, each sweeping on its own timer (every
// DELETED_SESSION_RETENTION when that is under an hour, here 2 s), purge the sessions their users
// deleted once the retention has passed, together, with the files nothing else shows; a file also
// sent in a room stays readable there (docs/protocol.md, "Session library"). Until then nothing
// ever removed a deleted session: admins read it, and its files stayed, for good.
describe('deleted sessions purged by the sweeps of every instance (e2e)', () => {
  jest.setTimeout(90_000);
  let cluster: TwoInstances;
  let dir: string;
  const users: ChatUser[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'session-purge-timers-'));
    cluster = await TwoInstances.start({ UPLOAD_DIR: dir, DELETED_SESSION_RETENTION: '2s' });
  });
  afterAll(async () => {
    for (const user of users) user.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should purge deleted sessions once the retention has passed, keeping the files others show', async () => {
    const { first, second } = cluster;
    const admin = adminToken(uniqueUser('admin'));
    const carol = await ChatUser.connect(first, 'carol');
    const dave = await ChatUser.connect(second, 'dave');
    users.push(carol, dave);
    const stored = (fileId: string) => filesUnder(dir).some((path) => path.includes(fileId));

    const deleted = carol.sessionId;
    await carol.say('ibis');
    const [alone, kept, roomed] = await Promise.all(
      ['alone.png', 'kept.png', 'roomed.png'].map((name) => carol.upload(name)),
    );
    for (const fileId of [alone, kept, roomed]) await carol.sendFile(fileId);
    const live = await carol.newSession();
    await carol.sendFile(kept);
    const davesGone = dave.sessionId;
    const daves = await dave.upload('daves.png');
    await dave.sendFile(daves);
    const davesLive = await dave.newSession();
    // `roomed` also goes to a private room of carol's with dave in it
    const roomId = await createRoom(first, carol.token, 'private', [dave.id]);
    expect((await api(first, dave.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const room = cluster.track(await roomsSocket(first, carol.token));
    await join(room, roomId);
    room.send({ type: 'chat', room_id: roomId, file_id: roomed, client_id: 'share' });
    expect((await room.next((frame) => frame.client_id === 'share')).type).toBe('ack');

    await carol.remove(deleted);
    await dave.remove(davesGone);
    // admins still read them (within the retention, as before)
    expect((await adminRead(second, admin, deleted)).status).toBe(200);

    const purged = async () =>
      (await adminRead(first, admin, deleted)).status === 404 &&
      (await adminRead(second, admin, davesGone)).status === 404;
    await waitUntil(purged, 20_000);
    for (const [server, sessionId] of [
      [first, live],
      [second, davesLive],
    ] as const)
      expect((await adminRead(server, admin, sessionId)).status).toBe(200);
    expect([await carol.fileStatus(alone), stored(alone)]).toEqual([404, false]);
    expect([await dave.fileStatus(daves), stored(daves)]).toEqual([404, false]);
    expect([await carol.fileStatus(kept), stored(kept)]).toEqual([302, true]);
    expect([await dave.fileStatus(roomed), await carol.fileStatus(roomed), stored(roomed)]).toEqual([
      302,
      302,
      true,
    ]);
  });
});

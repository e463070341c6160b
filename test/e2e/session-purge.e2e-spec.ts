import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { type Db, MongoClient } from 'mongodb';
import { SETTINGS, type Settings } from '../../src/config/settings';
import { SessionPurgeService } from '../../src/modules/history/session-purge.service';
import { NotesService } from '../../src/modules/notes/notes.service';
import { TakeoverRepository } from '../../src/modules/takeover/takeover.repository';
import { FilesRepository } from '../../src/modules/uploads/files.repository';
import type { RunningApp } from '../helpers/app';
import { adminToken, uniqueUser } from '../helpers/tokens';
import { createRoom, join, roomsSocket, TwoInstances, api } from './rooms.helpers';
import { adminRead, adminSearch, call, ChatUser, purgedTotal } from './session-purge.helpers';
import { PNG } from './uploads.fixtures';
import { filesUnder } from './uploads.helpers';

const RETENTION_MS = 30 * 86_400_000;

// A session its user deleted stays readable by admins for DELETED_SESSION_RETENTION (30 days), then
// the sweep removes it with everything it holds: its messages (feedback, CSAT), its search index,
// notes, takeover records, settled alerts, attachment records, and the files no room or other
// session shows (bytes and quota). Until then nothing ever removed one (docs/protocol.md, "Session
// library"). The sweep runs here with a clock of its own (`sweep(now)`), on two instances sharing
// one store and one Redis, as production does.
describe('deleted sessions purged after DELETED_SESSION_RETENTION (e2e)', () => {
  jest.setTimeout(120_000);
  let cluster: TwoInstances;
  let server: RunningApp;
  let dir: string;
  let store: MongoClient;
  let db: Db;
  const admin = adminToken(uniqueUser('admin'), 'Ada Admin');
  const users: ChatUser[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'session-purge-'));
    cluster = await TwoInstances.start({ UPLOAD_DIR: dir });
    server = cluster.first;
    store = await new MongoClient(server.app.get<Settings>(SETTINGS).mongodbUri).connect();
    db = store.db();
  });
  afterAll(async () => {
    for (const user of users) user.close();
    await cluster?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => jest.restoreAllMocks());

  const purge = (app = server) => app.app.get(SessionPurgeService);
  const user = async (name: string, app = server) => {
    const connected = await ChatUser.connect(app, name);
    users.push(connected);
    return connected;
  };
  const stored = (fileId: string) => filesUnder(dir).some((path) => path.includes(fileId));
  const usedBytes = (userId: string) => server.app.get(FilesRepository).usedBytes(userId);
  const count = (collection: string, filter: Record<string, unknown>) =>
    db.collection(collection).countDocuments(filter);
  // what the store holds of a session, its document and every record tied to it
  const held = async (sessionId: string) => ({
    session: await count('sessions', { _id: sessionId }),
    terms: await count('session_terms', { _id: sessionId }),
    notes: await count('session_notes', { session_id: sessionId }),
    claims: await count('takeover_claims', { session_id: sessionId }),
    alerts: await count('notifications', { session_id: sessionId }),
    attachments: await count('file_attachments', { scope: sessionId }),
  });
  const NOTHING = { session: 0, terms: 0, notes: 0, claims: 0, alerts: 0, attachments: 0 };
  const note = (sessionId: string, text: string, app = server) =>
    call(app, 'POST', `/chat/admin/sessions/${sessionId}/notes`, admin, { text });
  // the file sent in a private room of `owner` with `member` in it
  const shareInRoom = async (owner: ChatUser, member: ChatUser, fileId: string) => {
    const roomId = await createRoom(server, owner.token, 'private', [member.id]);
    expect((await api(server, member.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const socket = cluster.track(await roomsSocket(server, owner.token));
    await join(socket, roomId);
    socket.send({ type: 'chat', room_id: roomId, file_id: fileId, client_id: `share-${fileId}` });
    expect((await socket.next((frame) => frame.client_id === `share-${fileId}`)).type).toBe('ack');
  };

  it('should purge a deleted session past the retention with all it holds, and nothing else', async () => {
    const alice = await user('alice');
    const bob = await user('bob');
    const first = alice.sessionId;
    const replyId = await alice.say('quokka zebra');
    const only = await alice.upload('only.png');
    const inRoom = await alice.upload('in-room.png');
    await alice.sendFile(only);
    await alice.sendFile(inRoom);
    const rated = { rating: 'down', reason: 'Too vague' };
    expect(
      (await call(server, 'PUT', `/chat/sessions/${first}/messages/${replyId}/feedback`, alice.token, rated))
        .status,
    ).toBe(200);
    await alice.helpRequest('Please call me back');
    expect((await call(server, 'POST', `/chat/admin/sessions/${first}/takeover`, admin)).status).toBe(200);
    expect((await call(server, 'POST', `/chat/admin/sessions/${first}/release`, admin)).status).toBe(200);
    await alice.socket.nextOfType('admin_leave');
    const csat = { rating: 4, comment: 'Kind' };
    expect((await call(server, 'POST', `/chat/sessions/${first}/csat`, alice.token, csat)).status).toBe(200);
    expect((await note(first, 'Refund approved')).status).toBe(201);
    await shareInRoom(alice, bob, inRoom);
    // a second session, deleted after the first (within the retention when the first is past it),
    // and a third that stays
    const second = await alice.newSession();
    await alice.say('quokka again');
    const later = await alice.upload('later.png');
    await alice.sendFile(later);
    expect((await note(second, 'Second note')).status).toBe(201);
    const third = await alice.newSession();
    await alice.say('quokka kept');
    expect(await adminSearch(server, admin, 'quokka', alice.id)).toEqual([first, second, third].sort());
    for (const [what, found] of Object.entries(await held(first)))
      expect([what, found > 0]).toEqual([what, true]);

    await alice.remove(first);
    const deletedAt = (await adminRead(server, admin, first)).deletedAt!;
    await alice.remove(second);
    expect((await adminRead(server, admin, second)).deletedAt).toBeGreaterThan(deletedAt);
    const used = await usedBytes(alice.id);
    const purgedBefore = await purgedTotal(server);

    // a millisecond past the first's retention: the first goes, the second is not due yet
    expect(await purge().sweep(deletedAt + RETENTION_MS + 1)).toBe(1);
    expect(await held(first)).toEqual(NOTHING);
    expect((await adminRead(server, admin, first)).status).toBe(404);
    expect((await adminRead(server, admin, second)).status).toBe(200);
    expect((await call(server, 'GET', `/chat/sessions/${third}`, alice.token)).status).toBe(200);
    expect(await adminSearch(server, admin, 'quokka', alice.id)).toEqual([second, third].sort());
    expect(await held(second)).toMatchObject({ session: 1, terms: 1, notes: 1, attachments: 1 });
    // the file only the session showed: record, bytes and quota; the room's stays for the room
    expect([await alice.fileStatus(only), stored(only), await count('files', { _id: only })]).toEqual([
      404,
      false,
      0,
    ]);
    expect([await bob.fileStatus(inRoom), await alice.fileStatus(inRoom), stored(inRoom)]).toEqual([
      302,
      302,
      true,
    ]);
    expect(await usedBytes(alice.id)).toBe(used - PNG.length);
    expect(await purgedTotal(server)).toBe(purgedBefore + 1);
    // nothing brings it back: no note, rating or export of it, and nothing left for another sweep
    expect((await note(first, 'Too late', cluster.second)).status).toBe(404);
    expect(
      (await call(server, 'PUT', `/chat/sessions/${first}/messages/${replyId}/feedback`, alice.token, rated))
        .status,
    ).toBe(404);
    expect((await call(server, 'GET', `/chat/sessions/${first}/export`, admin)).status).toBe(404);
    expect(await purge(cluster.second).sweep(deletedAt + RETENTION_MS + 1)).toBe(0);
    expect(await held(first)).toEqual(NOTHING);

    // the second's turn; the third (never deleted) and the room's file stay
    expect(await purge().sweep(Date.now() + RETENTION_MS)).toBe(1);
    expect(await held(second)).toEqual(NOTHING);
    expect([await alice.fileStatus(later), stored(later)]).toEqual([404, false]);
    expect(await usedBytes(alice.id)).toBe(used - 2 * PNG.length);
    expect((await call(server, 'GET', `/chat/sessions/${third}`, alice.token)).status).toBe(200);
    expect(await bob.fileStatus(inRoom)).toBe(302);
  });

  it('should purge each session once when both instances sweep at once, keeping the files others still show', async () => {
    const carol = await user('carol');
    const dave = await user('dave', cluster.second);
    const [twice, alone, kept, roomed] = await Promise.all(
      ['twice.png', 'alone.png', 'kept.png', 'roomed.png'].map((name) => carol.upload(name)),
    );
    const first = carol.sessionId;
    await carol.say('ocelot one');
    for (const fileId of [twice, alone, roomed]) await carol.sendFile(fileId);
    const second = await carol.newSession();
    await carol.say('ocelot two');
    for (const fileId of [twice, kept]) await carol.sendFile(fileId);
    const live = await carol.newSession();
    await carol.sendFile(kept);
    const daves = await dave.upload('daves.png');
    const gone = dave.sessionId;
    await dave.sendFile(daves);
    await dave.newSession();
    await shareInRoom(carol, dave, roomed);
    for (const sessionId of [first, second]) await carol.remove(sessionId);
    await dave.remove(gone);

    const now = Date.now() + RETENTION_MS;
    const [one, other] = await Promise.all([purge().sweep(now), purge(cluster.second).sweep(now)]);
    expect(one + other).toBe(3);
    for (const sessionId of [first, second, gone]) expect(await held(sessionId)).toEqual(NOTHING);
    expect((await call(server, 'GET', `/chat/sessions/${live}`, carol.token)).status).toBe(200);
    for (const fileId of [twice, alone])
      expect([await carol.fileStatus(fileId), stored(fileId)]).toEqual([404, false]);
    expect([await dave.fileStatus(daves), stored(daves)]).toEqual([404, false]);
    expect([await carol.fileStatus(kept), stored(kept)]).toEqual([302, true]);
    expect([await dave.fileStatus(roomed), await carol.fileStatus(roomed), stored(roomed)]).toEqual([
      302,
      302,
      true,
    ]);
    expect(await usedBytes(carol.id)).toBe(2 * PNG.length);
  });

  // The files go first, the document last: a purge cut off before it leaves the session deleted and
  // due, and the next sweep finishes it.
  it('should finish at the next sweep a purge cut off before the session document went', async () => {
    const erin = await user('erin');
    const sessionId = erin.sessionId;
    await erin.say('lynx');
    const fileId = await erin.upload('lynx.png');
    await erin.sendFile(fileId);
    expect((await note(sessionId, 'Call back')).status).toBe(201);
    await erin.newSession();
    await erin.remove(sessionId);
    jest.spyOn(server.app.get(NotesService), 'removeOf').mockRejectedValueOnce(new Error('store cut off'));

    expect(await purge().sweep(Date.now() + RETENTION_MS)).toBe(0);
    expect(stored(fileId)).toBe(false);
    expect(await held(sessionId)).toMatchObject({ session: 1, terms: 1, notes: 1 });
    expect((await adminRead(server, admin, sessionId)).status).toBe(200);
    expect(await purge().sweep(Date.now() + RETENTION_MS)).toBe(1);
    expect(await held(sessionId)).toEqual(NOTHING);
  });

  // A note added while the purge runs (on the other instance) waits for it and finds no session:
  // before, the note's check and insert went beside the purge, and the note outlived its session.
  it('should leave no note written while the session is being purged', async () => {
    const fay = await user('fay');
    const sessionId = fay.sessionId;
    await fay.say('heron');
    await fay.newSession();
    await fay.remove(sessionId);
    const claims = server.app.get(TakeoverRepository);
    const removeOf = claims.removeOf.bind(claims);
    let reached!: () => void;
    let release!: () => void;
    const inPurge = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    jest.spyOn(claims, 'removeOf').mockImplementationOnce(async (id: string) => {
      reached();
      await released;
      return removeOf(id);
    });

    const sweeping = purge().sweep(Date.now() + RETENTION_MS);
    await inPurge;
    const late = note(sessionId, 'Written during the purge', cluster.second);
    await new Promise((resolve) => setTimeout(resolve, 500));
    release();
    expect(await sweeping).toBe(1);
    expect((await late).status).toBe(404);
    expect(await held(sessionId)).toEqual(NOTHING);
  });
});

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { api, createRoom, join, roomsSocket, type RoomFrame } from './rooms.helpers';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

interface RoomMessages {
  items: Array<{ message_id: string; metadata?: { file?: { name?: string } } }>;
}

// File names at rest (docs/protocol.md, "Rooms" → Store, and "Uploads and files"): the user's file
// name is AES-256-GCM encrypted like content in the three places it is stored: `files`, the
// session's `messages[].metadata.file` and `chat_messages.metadata.file`. Until the privacy audit
// fix a dump showed all three in plaintext (`hiv-test-result.png`, `payslip.png`) while the report of
// the very same message encrypted it. Every read path decrypts it; records written before hold a
// plain name and are read as they are.
describe('file names at rest (e2e)', () => {
  jest.setTimeout(60_000);
  const database = mongoUri();
  const uploads = mkdtempSync(joinPath(tmpdir(), 'file-names-'));
  const env = { MONGODB_URI: database, UPLOAD_DIR: uploads };
  const tag = randomBytes(4).toString('hex').toUpperCase();
  const sessionFile = `SESSFILE${tag}-hiv-test-result.png`;
  const roomFile = `ROOMFILE${tag}-payslip.png`;
  const owner = uniqueUser('names');
  const member = uniqueUser('names');
  const ownerToken = userToken(owner);
  const memberToken = userToken(member);
  const admin = adminToken(uniqueUser('admin'));
  let mongo: MongoClient;
  let db: Db;
  let sessionId: string;
  let sessionFileId: string;
  let roomId: string;
  let roomFileId: string;
  let roomMessageId: string;

  // the writes of a user and a room member, through the app; then every app reads from the store
  beforeAll(async () => {
    mongo = await new MongoClient(database).connect();
    db = mongo.db();
    const writer = await startApp(env);
    try {
      const client = await TestClient.connect(`${writer.wsUrl}?token=${ownerToken}`);
      sessionId = (await client.nextOfType('connection_status')).session_id as string;
      const sent = await upload(writer.httpUrl, ownerToken, PNG, sessionFile, 'image/png');
      expect(sent.status).toBe(201);
      sessionFileId = sent.body.file_id;
      client.send({ type: 'file_upload', client_id: 'f1', file_id: sessionFileId });
      expect(await client.nextOfType('ack')).toMatchObject({ client_id: 'f1' });
      await client.close();

      roomId = await createRoom(writer, ownerToken);
      const ownerSocket = await roomsSocket(writer, ownerToken);
      const memberSocket = await roomsSocket(writer, memberToken);
      await join(ownerSocket, roomId);
      await join(memberSocket, roomId);
      const shared = await upload(writer.httpUrl, memberToken, PNG, roomFile, 'image/png');
      expect(shared.status).toBe(201);
      roomFileId = shared.body.file_id;
      memberSocket.send({ type: 'chat', room_id: roomId, file_id: roomFileId, client_id: 'c1' });
      const ack = (await memberSocket.next(
        (frame) => frame.client_id === 'c1' && (frame.type === 'ack' || frame.type === 'error'),
      )) as RoomFrame;
      expect(ack.type).toBe('ack');
      roomMessageId = ack.message_id as string;
      const report = await api(
        writer,
        ownerToken,
        'POST',
        `/rooms/${roomId}/messages/${roomMessageId}/report`,
        {
          reason: 'r',
        },
      );
      expect(report.status).toBe(201);
      await Promise.all([ownerSocket.close(), memberSocket.close()]);
    } finally {
      await writer.close();
    }
  });
  afterAll(async () => {
    await mongo?.close();
    rmSync(uploads, { recursive: true, force: true });
  });

  it('should keep no file name in plaintext anywhere in the store', async () => {
    const plain: string[] = [];
    for (const { name } of await db.listCollections().toArray()) {
      const raw = JSON.stringify(await db.collection(name).find({}).toArray());
      if (raw.includes(`FILE${tag}`)) plain.push(name);
    }
    // the three places a name was kept: each holds an encrypted name now
    expect(plain).toEqual([]);
    expect(await db.collection('files').countDocuments({ _id: sessionFileId as never })).toBe(1);
  });

  it('should show the right names on every read path', async () => {
    const reader = await startApp(env);
    try {
      await expectNames(reader, sessionFile, roomFile);
      // resume: a socket that asks for the session from its start gets the file's message again
      const resumed = await TestClient.connect(
        `${reader.wsUrl}?token=${ownerToken}&session_id=${sessionId}&last_seq=0`,
      );
      expect(metadataName(await resumed.nextOfType('file_upload'))).toBe(sessionFile);
      await resumed.close();
      // a room member's join replays the room's history
      const socket = await roomsSocket(reader, memberToken);
      await join(socket, roomId, 0);
      const replayed = (socket.frames as RoomFrame[]).find((frame) => frame.message_id === roomMessageId);
      expect(metadataName(replayed)).toBe(roomFile);
      await socket.close();
      // the admins' reports keep the name the message had (encrypted on their own, as before)
      const reports = await api<{ items: Array<{ message_id: string; reported: { file_name?: string } }> }>(
        reader,
        admin,
        'GET',
        '/admin/reports?limit=100',
      );
      expect(reports.body.items.find((item) => item.message_id === roomMessageId)?.reported).toMatchObject({
        file_name: roomFile,
      });
    } finally {
      await reader.close();
    }
  });

  it('should read records written before, which hold a plain name, as they are', async () => {
    const [oldSession, oldRoom] = [`old-${tag}-scan.png`, `old-${tag}-letter.png`];
    const file = (name: string) => ({ name, size: PNG.length, mime_type: 'image/png' });
    // the documents as the version before wrote them: a plain `name`, nothing encrypted
    for (const [id, name] of [
      [sessionFileId, oldSession],
      [roomFileId, oldRoom],
    ])
      await db
        .collection('files')
        .updateOne({ _id: id as never }, { $set: { name }, $unset: { encrypted_name: '' } });
    const session = await db.collection('sessions').findOne({ _id: sessionId as never });
    const index = (session?.messages as Array<{ file_id?: string }>).findIndex(
      (message) => message.file_id === sessionFileId,
    );
    await db
      .collection('sessions')
      .updateOne(
        { _id: sessionId as never },
        { $set: { [`messages.${index}.metadata.file`]: file(oldSession) } },
      );
    await db
      .collection('chat_messages')
      .updateOne({ _id: roomMessageId as never }, { $set: { 'metadata.file': file(oldRoom) } });

    const reader = await startApp(env);
    try {
      await expectNames(reader, oldSession, oldRoom);
    } finally {
      await reader.close();
    }
  });

  // history (the owner's and an admin's), the export, the signed link and its download, the
  // uploads' GET for a room member, the room's REST history
  async function expectNames(app: RunningApp, inSession: string, inRoom: string): Promise<void> {
    for (const token of [ownerToken, admin]) {
      const history = await getJson<SessionBody>(`${app.httpUrl}/chat/sessions/${sessionId}`, token);
      const message = history.messages.find((candidate) => candidate.type === 'file_upload');
      expect(metadataName(message)).toBe(inSession);
    }
    const exported = await getJson<{ messages: Array<{ attachment?: { name: string } }> }>(
      `${app.httpUrl}/chat/sessions/${sessionId}/export?format=json`,
      ownerToken,
    );
    expect(exported.messages.map((message) => message.attachment?.name)).toContain(inSession);
    const markdown = await fetch(`${app.httpUrl}/chat/sessions/${sessionId}/export`, {
      headers: authHeaders(ownerToken),
    });
    expect(await markdown.text()).toContain(`Attachment: [${inSession}]`);

    // the owner of each file, and a room member who is not the room file's owner
    for (const [token, fileId, name] of [
      [ownerToken, sessionFileId, inSession],
      [memberToken, roomFileId, inRoom],
      [ownerToken, roomFileId, inRoom],
    ]) {
      const link = await fileLink(app.httpUrl, token, fileId);
      expect(link.status).toBe(302);
      const location = link.headers.get('location') as string;
      expect(new URL(location, app.httpUrl).searchParams.get('name')).toBe(name);
      const download = await fetch(`${app.httpUrl}${location}`);
      expect(download.status).toBe(200);
      expect(download.headers.get('content-disposition')).toContain(name);
    }

    const messages = await api<RoomMessages>(app, memberToken, 'GET', `/rooms/${roomId}/messages`);
    expect(messages.status).toBe(200);
    const shared = messages.body.items.find((item) => item.message_id === roomMessageId);
    expect(shared?.metadata?.file?.name).toBe(inRoom);
  }
});

function metadataName(frame: Frame | { metadata?: Record<string, unknown> } | undefined): unknown {
  return (frame?.metadata?.file as { name?: unknown } | undefined)?.name;
}

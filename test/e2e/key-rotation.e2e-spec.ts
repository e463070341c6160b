import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { keyIdOf } from '../../src/common/crypto/content-cipher';
import { AlertsService } from '../../src/modules/notifications/alerts.service';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { api, createRoom, join as joinRoom, roomsSocket, say } from './rooms.helpers';

// One turn in the user's session on `app`: its session id (the message is acked and answered).
async function oneTurn(app: RunningApp, token: string, clientId: string, content: string): Promise<string> {
  const client = await TestClient.connect(`${app.wsUrl}?token=${token}`);
  const sessionId = String((await client.nextOfType('connection_status')).session_id);
  client.send({ type: 'user_message', client_id: clientId, content });
  await client.reply();
  await client.close();
  return sessionId;
}

// The whole app: a conversation stored under one ENCRYPTION_KEY is re-encrypted in the background
// after the key rotates, and the app then reads it with the new key alone.
describe('ENCRYPTION_KEY rotation (e2e)', () => {
  const database = mongoUri();
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const user = uniqueUser('rotation');
  const token = userToken(user);
  // the app under the old key; then under the new one, the old one listed as previous
  const startOld = () => startApp({ MONGODB_URI: database, ENCRYPTION_KEY: oldKey });
  const startRotating = () =>
    startApp({ MONGODB_URI: database, ENCRYPTION_KEY: newKey, ENCRYPTION_KEY_PREVIOUS: oldKey });

  it('should rewrite old content in the background and serve it with the new key alone', async () => {
    const before = await startOld();
    let sessionId: string;
    try {
      sessionId = await oneTurn(before, token, 'k1', 'written with the old key');
    } finally {
      await before.close();
    }

    const rotating = await startRotating();
    try {
      const sessions = rotating.app.get<Connection>(getConnectionToken()).collection('sessions');
      const prefix = `${keyIdOf(Buffer.from(newKey, 'base64'))}.`;
      const rotated = async () => {
        const raw = await sessions.findOne({ _id: sessionId as never });
        const contents = ((raw?.messages ?? []) as Array<{ content?: string }>).flatMap((message) =>
          message.content ? [message.content] : [],
        );
        return contents.length >= 2 && contents.every((content) => content.startsWith(prefix));
      };
      // the pass starts 5 s after boot
      const deadline = Date.now() + 20_000;
      while (!(await rotated())) {
        if (Date.now() > deadline) throw new Error('the session was not re-encrypted in time');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await rotating.close();
    }

    const after = await startApp({ MONGODB_URI: database, ENCRYPTION_KEY: newKey });
    try {
      const session = await getJson<SessionBody>(`${after.httpUrl}/chat/sessions/${sessionId}`, token);
      expect(session.messages.map((message) => message.content)).toEqual([
        'written with the old key',
        expect.stringContaining('message 1 of this conversation'),
      ]);
    } finally {
      await after.close();
    }
  }, 60_000);

  // Found by the key-rotation black-box audit in session 42 (3 of 3 runs): after the rotation a search
  // found none of the messages written before it (items: []): the index's tokens were made with the
  // old key and the query's with the new one alone, and nothing re-indexed them. Until session 43 a
  // session's name given before the rotation was not made anew either (title_tokens): once the old key
  // was dropped, the name's words found nothing.
  it('should find messages and names written before the rotation while it runs and after it', async () => {
    const searcher = userToken(uniqueUser('rotation'));
    const found = async (app: RunningApp, q = 'Zanzibar itiner') => {
      const items = (
        await getJson<{ items: Array<{ session_id: string }> }>(
          `${app.httpUrl}/chat/search?q=${encodeURIComponent(q)}`,
          searcher,
        )
      ).items;
      return items.map((item) => item.session_id);
    };
    const before = await startOld();
    let sessionId: string;
    try {
      sessionId = await oneTurn(before, searcher, 'z1', 'our Zanzibar itinerary');
      expect(await found(before)).toContain(sessionId);
      // a name of words no message holds: found by its title_tokens alone
      const renamed = await fetch(`${before.httpUrl}/chat/sessions/${sessionId}`, {
        method: 'PATCH',
        headers: { ...authHeaders(searcher), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Serengeti safari' }),
      });
      expect(renamed.status).toBe(200);
      expect(await found(before, 'Serengeti')).toContain(sessionId);
    } finally {
      await before.close();
    }

    const rotating = await startRotating();
    try {
      // at once: the query's words under the previous key too
      expect(await found(rotating)).toContain(sessionId);
      expect(await found(rotating, 'Serengeti')).toContain(sessionId);
      const db = rotating.app.get<Connection>(getConnectionToken());
      const current = keyIdOf(Buffer.from(newKey, 'base64'));
      const deadline = Date.now() + 20_000;
      for (;;) {
        const entry = await db
          .collection('session_terms')
          .findOne({ _id: sessionId as never }, { projection: { index_keys: 1 } });
        const session = await db
          .collection('sessions')
          .findOne({ _id: sessionId as never }, { projection: { title_key: 1 } });
        if (JSON.stringify(entry?.index_keys) === JSON.stringify([current]) && session?.title_key === current)
          break;
        if (Date.now() > deadline) throw new Error('the session was not re-indexed in time');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await rotating.close();
    }

    const after = await startApp({ MONGODB_URI: database, ENCRYPTION_KEY: newKey });
    try {
      expect(await found(after)).toContain(sessionId);
      expect(await found(after, 'Serengeti')).toContain(sessionId);
    } finally {
      await after.close();
    }
  }, 60_000);

  // a file's name, encrypted like content (docs/protocol.md, "Uploads and files"), in its record and
  // in the session's message: both rewritten, then read with the new key alone
  it('should rewrite file names in the background and serve them with the new key alone', async () => {
    const uploads = mkdtempSync(join(tmpdir(), 'rotation-files-'));
    const env = { MONGODB_URI: database, UPLOAD_DIR: uploads };
    const owner = userToken(uniqueUser('rotation'));
    const before = await startApp({ ...env, ENCRYPTION_KEY: oldKey });
    let sessionId: string;
    let fileId: string;
    try {
      const client = await TestClient.connect(`${before.wsUrl}?token=${owner}`);
      sessionId = (await client.nextOfType('connection_status')).session_id as string;
      fileId = (await upload(before.httpUrl, owner, PNG, 'lab-result.png', 'image/png')).body.file_id;
      client.send({ type: 'file_upload', client_id: 'f1', file_id: fileId });
      await client.nextOfType('ack');
      await client.close();
    } finally {
      await before.close();
    }

    const rotating = await startApp({ ...env, ENCRYPTION_KEY: newKey, ENCRYPTION_KEY_PREVIOUS: oldKey });
    try {
      const db = rotating.app.get<Connection>(getConnectionToken());
      const prefix = `${keyIdOf(Buffer.from(newKey, 'base64'))}.`;
      const rotated = async () => {
        const file = await db.collection('files').findOne({ _id: fileId as never });
        const session = await db.collection('sessions').findOne({ _id: sessionId as never });
        const message = (
          session?.messages as Array<{ metadata?: { file?: { encrypted_name?: string } } }>
        )[0];
        return [file?.encrypted_name, message.metadata?.file?.encrypted_name].every((name) =>
          String(name).startsWith(prefix),
        );
      };
      const deadline = Date.now() + 20_000;
      while (!(await rotated())) {
        if (Date.now() > deadline) throw new Error('the file names were not re-encrypted in time');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await rotating.close();
    }

    const after = await startApp({ ...env, ENCRYPTION_KEY: newKey });
    try {
      const session = await getJson<SessionBody>(`${after.httpUrl}/chat/sessions/${sessionId}`, owner);
      expect(session.messages[0].metadata).toEqual({
        file: { name: 'lab-result.png', size: PNG.length, mime_type: 'image/png' },
      });
      const link = await fileLink(after.httpUrl, owner, fileId);
      expect(new URL(link.headers.get('location') as string, after.httpUrl).searchParams.get('name')).toBe(
        'lab-result.png',
      );
    } finally {
      await after.close();
      rmSync(uploads, { recursive: true, force: true });
    }
  }, 60_000);

  // Found by the key-rotation black-box audit in session 42 (4 of 6 runs): the alert-reason pass
  // rewrote 'suppressed' alerts while a digest took them; on FerretDB an alert was written back
  // 'suppressed', digest_id null, its dg: claim kept (left out of its digest, or sent again later).
  it('should leave every alert a digest claimed as digested while the reasons rotate', async () => {
    const env = { MONGODB_URI: database, ALERT_LIMIT_PER_TYPE: '1' };
    const before = await startApp({ ...env, ENCRYPTION_KEY: oldKey, ALERT_DIGEST_INTERVAL: '20d' });
    try {
      const alerts = before.app.get(AlertsService);
      for (let start = 0; start < 1200; start += 100)
        await Promise.all(
          Array.from({ length: 100 }, (_, index) =>
            alerts.raise({
              type: 'message_report',
              userId: uniqueUser('reporter'),
              reason: `reason number ${start + index}`,
              details: 'reported',
            }),
          ),
        );
    } finally {
      await before.close();
    }
    // the pass starts 5 s after boot, the first digest half a second later, while the pass runs
    const rotating = await startApp({
      ...env,
      ENCRYPTION_KEY: newKey,
      ENCRYPTION_KEY_PREVIOUS: oldKey,
      ALERT_DIGEST_INTERVAL: '5500ms',
    });
    try {
      const db = rotating.app.get<Connection>(getConnectionToken());
      const notifications = db.collection('notifications');
      const deadline = Date.now() + 30_000;
      // until two digests took every held alert
      while ((await notifications.countDocuments({ kind: 'alert', status: 'suppressed' })) > 0) {
        if (Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const marks = await db
        .collection('notification_marks')
        .find({ _id: { $regex: '^dg:' } as never })
        .toArray();
      const claimed = new Set(marks.map((mark) => String(mark._id).slice(3)));
      const reverted = (await notifications.find({ kind: 'alert' }).toArray()).filter(
        (alert) =>
          claimed.has(String(alert._id)) && (alert.status !== 'digested' || alert.digest_id === null),
      );
      expect(reverted.map((alert) => `${String(alert._id)} ${alert.status} ${alert.digest_id}`)).toEqual([]);
    } finally {
      await rotating.close();
    }
  }, 90_000);

  // Found by the key-rotation black-box audit in session 42 (every run): one record under a key no
  // longer listed (ENCRYPTION_KEY_PREVIOUS emptied too early, or mistyped) failed everything that read
  // it: the session over REST and every new message in it (INTERNAL), the room's join and history,
  // the session's notes. Now it reads as unreadable (docs/protocol.md, "Content at rest").
  describe('content under a key no longer listed', () => {
    const owner = userToken(uniqueUser('unlisted'));
    const admin = adminToken(uniqueUser('adm'));
    let sessionId = '';
    let roomId = '';
    let after: RunningApp;

    beforeAll(async () => {
      const before = await startOld();
      try {
        sessionId = await oneTurn(before, owner, 'k1', 'written with the old key');
        roomId = await createRoom(before, owner);
        const rooms = await roomsSocket(before, owner);
        await joinRoom(rooms, roomId);
        await say(rooms, roomId, 'room message written with the old key', 'r1');
        await rooms.close();
        const note = await fetch(`${before.httpUrl}/chat/admin/sessions/${sessionId}/notes`, {
          method: 'POST',
          headers: { ...authHeaders(admin), 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'a note written with the old key' }),
        });
        expect(note.status).toBe(201);
      } finally {
        await before.close();
      }
      after = await startApp({ MONGODB_URI: database, ENCRYPTION_KEY: newKey });
    }, 60_000);
    afterAll(() => after?.close());

    it('should take and answer new messages, and open the session showing the old ones unreadable', async () => {
      const client = await TestClient.connect(`${after.wsUrl}?token=${owner}&session_id=${sessionId}`);
      try {
        expect((await client.nextOfType('connection_status')).session_id).toBe(sessionId);
        client.send({ type: 'user_message', client_id: 'k2', content: 'written with the new key' });
        const answer = await client.next(
          (frame) => frame.client_id === 'k2' && (frame.type === 'ack' || frame.type === 'error'),
          10_000,
        );
        expect(answer).toMatchObject({ type: 'ack' });
        await client.reply();
      } finally {
        await client.close();
      }
      const session = await getJson<SessionBody>(`${after.httpUrl}/chat/sessions/${sessionId}`, owner);
      expect(
        session.messages.slice(0, 3).map((message) => [message.content, message.metadata?.unreadable]),
      ).toEqual([
        ['', true],
        ['', true],
        ['written with the new key', undefined],
      ]);
    }, 30_000);

    it('should let a member join the room and read its history', async () => {
      const rooms = await roomsSocket(after, owner);
      try {
        rooms.send({ type: 'join', room_id: roomId, client_id: 'j', last_seq: 0 });
        const answer = await rooms.next(
          (frame) => frame.client_id === 'j' && (frame.type === 'join' || frame.type === 'error'),
          10_000,
        );
        expect(answer).toMatchObject({ type: 'join' });
      } finally {
        await rooms.close();
      }
      expect((await api(after, owner, 'GET', `/rooms/${roomId}/messages`)).status).toBe(200);
    });

    it('should list the session’s notes for an admin, the unreadable one flagged', async () => {
      const response = await fetch(`${after.httpUrl}/chat/admin/sessions/${sessionId}/notes`, {
        headers: authHeaders(admin),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject([{ text: '', unreadable: true }]);
    });
  });
});

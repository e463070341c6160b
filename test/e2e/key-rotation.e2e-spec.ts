import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { keyIdOf } from '../../src/common/crypto/content-cipher';
import { getJson, startApp, type SessionBody } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// The whole app: a conversation stored under one ENCRYPTION_KEY is re-encrypted in the background
// after the key rotates, and the app then reads it with the new key alone.
describe('ENCRYPTION_KEY rotation (e2e)', () => {
  const database = mongoUri();
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const user = uniqueUser('rotation');
  const token = userToken(user);

  it('should rewrite old content in the background and serve it with the new key alone', async () => {
    const before = await startApp({ MONGODB_URI: database, ENCRYPTION_KEY: oldKey });
    let sessionId: string;
    try {
      const client = await TestClient.connect(`${before.wsUrl}?token=${token}`);
      sessionId = (await client.nextOfType('connection_status')).session_id as string;
      client.send({ type: 'user_message', client_id: 'k1', content: 'written with the old key' });
      await client.reply();
      await client.close();
    } finally {
      await before.close();
    }

    const rotating = await startApp({
      MONGODB_URI: database,
      ENCRYPTION_KEY: newKey,
      ENCRYPTION_KEY_PREVIOUS: oldKey,
    });
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
});

import { randomBytes } from 'node:crypto';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { keyIdOf } from '../../src/common/crypto/content-cipher';
import { getJson, startApp, type SessionBody } from '../helpers/app';
import { mongoUri } from '../helpers/env';
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
});

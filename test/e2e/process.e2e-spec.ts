import { testEnv } from '../helpers/env';
import { bootRefusal, startAppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// The built server as a separate process: restarts, SIGTERM, boot-time settings checks, log hygiene.
describe('server process (e2e)', () => {
  // each test boots the built server one to three times; slow under a loaded 2-core CI machine
  jest.setTimeout(120_000);

  it('should keep a session across a restart of the server process between two messages', async () => {
    const env = testEnv({
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 1 }]),
      LOG_LEVEL: 'info',
    });
    const token = userToken(uniqueUser());
    const first = await startAppProcess(env);
    const url = `ws://127.0.0.1:${first.port}/chat/ws?token=${token}`;
    const client = await TestClient.connect(url);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'before', content: 'before the restart' });
    await client.reply();
    first.child.kill('SIGTERM');
    expect(await client.closed).toBe(1001);
    expect(await first.exited).toBe(0);

    const second = await startAppProcess(env, first.port);
    try {
      const again = await TestClient.connect(url);
      const restored = await again.nextOfType('connection_status');
      expect(restored).toMatchObject({ session_id: status.session_id, seq: 2, metadata: { restored: true } });
      again.send({ type: 'user_message', client_id: 'after', content: 'after the restart' });
      expect((await again.nextOfType('ack')).seq).toBe(3);
      const { final } = await again.reply();
      expect(final.seq).toBe(4);
      expect(final.content).toContain('message 2 of this conversation');
      await again.close();
      const logs = first.output() + second.output();
      expect(logs).not.toContain(token);
      expect(logs).not.toContain('before the restart');
      expect(logs).toContain('"session_id"');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('should store the partial reply when SIGTERM arrives mid-reply past the grace period, and replay it', async () => {
    const env = testEnv({
      LLM_PROVIDERS: JSON.stringify([{ id: 'slow', type: 'demo', delay_ms: 400 }]),
      SHUTDOWN_GRACE: '300ms',
    });
    const token = userToken(uniqueUser());
    const first = await startAppProcess(env);
    const url = `ws://127.0.0.1:${first.port}/chat/ws?token=${token}`;
    const client = await TestClient.connect(url);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'x', content: 'talk slowly' });
    await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    first.child.kill('SIGTERM');
    expect(await client.closed).toBe(1001);
    expect(await first.exited).toBe(0);

    const second = await startAppProcess(env, first.port);
    try {
      const again = await TestClient.connect(`${url}&session_id=${status.session_id}&last_seq=1`);
      const partial = await again.next((frame) => frame.type === 'ai_response');
      expect(partial.metadata).toMatchObject({ done: true, interrupted: true });
      expect((partial.content ?? '').length).toBeGreaterThan(0);
      await again.close();
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('should refuse to boot with a message naming a bad setting', async () => {
    await expect(startAppProcess({ ...testEnv(), ENCRYPTION_KEY: 'short' })).rejects.toThrow(
      /ENCRYPTION_KEY/,
    );
    await expect(startAppProcess({ ...testEnv(), MONGODB_URI: '' })).rejects.toThrow(/MONGODB_URI/);
    // pino would otherwise throw its own stack trace once Nest has started
    await expect(startAppProcess({ ...testEnv(), LOG_LEVEL: 'loud' })).rejects.toThrow(
      /Invalid setting LOG_LEVEL/,
    );
  });

  // each of these booted (ioredis retrying "notaurl" as a host and "http://…" as a socket path,
  // SMS off so TWILIO_API_URL unread, nodemailer taking "not-an-address" as a name) or failed with
  // an error naming no setting; a refusal exits 78 (EX_CONFIG) and never quotes REDIS_URL's password
  it.each([
    ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
    ['REDIS_URL', { REDIS_URL: 'notaurl' }],
    ['REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:notaport' }],
    ['REDIS_URL', { REDIS_URL: 'redis://:hunter2-secret@127.0.0.1:notaport' }],
    ['TWILIO_API_URL', { TWILIO_API_URL: 'not-a-url' }],
    [
      'MAIL_FROM',
      { SMTP_URL: 'smtp://127.0.0.1:25', ADMIN_EMAILS: 'ops@example.com', MAIL_FROM: 'not-an-address' },
    ],
    ['JWT_ADMIN_ROLES', { JWT_ADMIN_ROLES: ',' }],
    ['HOST', { HOST: 'not a host!' }],
  ])('should exit 78 naming %s when it cannot work', async (name, env) => {
    const { code, output } = await bootRefusal(testEnv(env));
    expect(output).toContain(`chatbox: Invalid setting ${name}: `);
    expect(output).not.toContain('hunter2');
    expect(code).toBe(78);
  });
});

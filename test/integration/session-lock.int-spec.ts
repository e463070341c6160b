import { Test, type TestingModule } from '@nestjs/testing';
import { type Settings } from '../../src/config/settings';
import { InProcessLock } from '../../src/infra/lock/in-process.lock';
import { SESSION_LOCK, type KeyLock } from '../../src/infra/lock/lock';
import { RedisLock } from '../../src/infra/lock/redis.lock';
import { StoreLock } from '../../src/infra/lock/store.lock';
import { WriteLock } from '../../src/infra/lock/write.lock';
import { pingOf } from '../../src/common/store-settle';
import { createConnection, type Connection } from 'mongoose';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// CHATBOX_LOCK=in-process shows the bug this fixes: each "instance" then locks only itself
const lockOf = (kind: 'redis' | 'store', connection: Connection): KeyLock => {
  if (process.env.CHATBOX_LOCK === 'in-process') return new InProcessLock();
  const options = { ttlMs: 5_000, waitMs: 20_000 };
  // 'store': the lock taken while Redis is away (a Redis that never answers, here)
  return kind === 'redis'
    ? new RedisLock(REDIS, undefined, options)
    : new RedisLock('redis://127.0.0.1:1', new StoreLock(connection, options), options, {
        lazyConnect: true,
      });
};

// Two instances (two Nest modules, two connections to FerretDB, two locks over one Redis) writing
// one session at once: FerretDB alone keeps 2 of 50 concurrent $push and stores resends twice.
describe.each(['redis', 'store'] as const)('session writes across instances (FerretDB, %s lock)', (kind) => {
  let settings: Settings;
  const modules: TestingModule[] = [];
  const locks: KeyLock[] = [];
  const connections: Connection[] = [];
  let a: SessionsService;
  let b: SessionsService;

  beforeAll(async () => {
    settings = testSettings();
    for (let index = 0; index < 2; index++) {
      const connection = await createConnection(settings.mongodbUri).asPromise();
      connections.push(connection);
      // the lock as LockModule provides it in the app (global)
      const lock = new WriteLock(lockOf(kind, connection), pingOf(connection));
      locks.push(lock);
      const lockModule = {
        module: class LockHolder {},
        global: true,
        providers: [{ provide: SESSION_LOCK, useValue: lock }],
        exports: [SESSION_LOCK],
      };
      const module = await Test.createTestingModule({
        imports: [...databaseModules(settings), lockModule, SessionsModule],
      }).compile();
      await module.init();
      modules.push(module);
    }
    [a, b] = modules.map((module) => module.get(SessionsService));
  });

  afterAll(async () => {
    await Promise.all(modules.map((module) => module.close()));
    await Promise.all(locks.map((lock) => lock.close()));
    await Promise.all(connections.map((connection) => connection.close()));
  });

  const message = (clientId: string) => ({
    type: 'user_message' as const,
    sender: 'user' as const,
    client_id: clientId,
    content: `text ${clientId}`,
    timestamp: new Date(),
  });

  it('should store 60 concurrent appends from two instances once each, at seqs 1..60', async () => {
    const user = uniqueUser();
    const { session } = await a.open(user, undefined, 'demo');
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, index) => (index % 2 ? a : b).append(session.id, message(`m${index}`))),
    );
    expect(results.every((result) => !result.duplicate)).toBe(true);
    expect(new Set(results.map((result) => result.message.seq)).size).toBe(60);
    const stored = await a.messagesAfter(session.id, user, 0);
    expect(stored.map((each) => each.seq)).toEqual(Array.from({ length: 60 }, (_, index) => index + 1));
    expect(new Set(stored.map((each) => each.client_id)).size).toBe(60);
  });

  it('should store a client_id resent to both instances at once exactly once, also after later turns', async () => {
    const user = uniqueUser();
    const { session } = await a.open(user, undefined, 'demo');
    await a.append(session.id, message('first'));
    await b.append(session.id, {
      type: 'ai_response',
      sender: 'ai',
      content: 'reply',
    });
    const copies = await Promise.all(
      Array.from({ length: 20 }, (_, index) => (index % 2 ? a : b).append(session.id, message('resent'))),
    );
    expect(copies.filter((copy) => !copy.duplicate)).toHaveLength(1);
    expect(new Set(copies.map((copy) => copy.message.seq))).toEqual(new Set([3]));
    // the first message resent after its reply: the one stored copy comes back
    const again = await b.append(session.id, message('first'));
    expect(again).toMatchObject({ duplicate: true, message: { seq: 1 } });
    const stored = await a.messagesAfter(session.id, user, 0);
    expect(stored.map((each) => each.client_id ?? each.sender)).toEqual(['first', 'ai', 'resent']);
  });
});

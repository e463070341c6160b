import { Logger } from '@nestjs/common';
import Redis, { type RedisOptions } from 'ioredis';

// How long a command waits for Redis's answer before it fails, and how long a connection may owe an
// answer before it is dropped and made again. Redis answers in well under a millisecond; one that
// keeps its sockets open and answers nothing (a paused host, a network cut that sends no reset:
// TCP would retry for ~15 minutes) would otherwise hold every caller until it answers again. With
// these, such a Redis is a Redis that is away and each caller's fallback takes over, except the
// lock's, which keeps its connection (RedisLock; docs/protocol.md, "Redis that stops answering").
export const REDIS_COMMAND_TIMEOUT_MS = 2_000;

const logger = new Logger('redis');

// Every Redis connection chatbox makes, with the same failure behaviour: reconnect at most a second
// apart, fail a command at once while not connected (no offline queue) or after its timeout, and
// drop a connection that owes answers past it (ioredis `socketTimeout`). A command the dropped
// connection owed an answer to has failed for its caller already, and may still run when Redis
// reads its old socket: it is not sent again on the new one (`autoResendUnfulfilledCommands`; sent
// again, a publish ran twice after a freeze: test/integration/redis-bus-freeze.int-spec.ts).
// Subscriptions are made again all the same (`autoResubscribe`; the bus makes its own: RedisBus).
// `closing()` tells the warning's listener that a close is the app's own.
export function redisConnection(
  url: string,
  name: string,
  options: RedisOptions = {},
  closing: () => boolean = () => false,
): Redis {
  const client = new Redis(url, {
    retryStrategy: (times) => Math.min(100 * times, 1000),
    connectionName: `chatbox-${name}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    socketTimeout: REDIS_COMMAND_TIMEOUT_MS,
    autoResendUnfulfilledCommands: false,
    ...options,
  });
  client.on('error', (error: Error) => {
    if (!closing()) logger.warn({ event: 'redis_error', client: name, err: error.message }, 'redis');
  });
  return client;
}

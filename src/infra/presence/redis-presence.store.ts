import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';
import { combine, type DeviceStatus, type PresenceStore, type UserPresence } from './presence-store';

const PREFIX = 'chatbox:presence:';

// Several instances: a Redis hash per user, one field per socket (`status:lastSeenMs`). The key
// expires two timeouts after its last touch, so a user whose every instance died leaves nothing.
// While Redis is away the calls fail and the caller reports nothing (presence is best effort; the
// messages themselves never depend on it).
export class RedisPresenceStore implements PresenceStore {
  private readonly client: Redis;
  private closed = false;

  constructor(
    url: string,
    private readonly timeoutMs: number,
  ) {
    this.client = redisConnection(url, 'presence', {}, () => this.closed);
  }

  async touch(userId: string, socketId: string, status: DeviceStatus, now: number): Promise<void> {
    if (this.closed) return;
    await this.client
      .multi()
      .hset(PREFIX + userId, socketId, `${status}:${now}`)
      .pexpire(PREFIX + userId, this.timeoutMs * 2)
      .exec();
  }

  async remove(userId: string, socketId: string): Promise<void> {
    // shutting down: the other instances stop counting this one's sockets after the timeout
    if (this.closed) return;
    await this.client.hdel(PREFIX + userId, socketId);
  }

  async statusOf(userIds: string[], now: number): Promise<Map<string, UserPresence>> {
    const result = new Map<string, UserPresence>();
    if (this.closed) return new Map(userIds.map((userId) => [userId, 'offline']));
    if (userIds.length === 0) return result;
    const pipeline = this.client.pipeline();
    for (const userId of userIds) pipeline.hgetall(PREFIX + userId);
    const replies = (await pipeline.exec()) ?? [];
    const since = now - this.timeoutMs;
    userIds.forEach((userId, index) => {
      const [error, fields] = replies[index] ?? [];
      const entries = error ? [] : Object.values((fields ?? {}) as Record<string, string>).map(parseEntry);
      result.set(userId, combine(entries, since));
    });
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.disconnect();
    return Promise.resolve();
  }
}

function parseEntry(value: string): { status: DeviceStatus; seenAt: number } {
  const [status, seenAt] = value.split(':');
  return { status: status === 'away' ? 'away' : 'online', seenAt: Number(seenAt) || 0 };
}

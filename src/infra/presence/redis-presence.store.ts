import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';
import {
  combine,
  type DeviceStatus,
  type PresenceAnnouncement,
  type PresenceStore,
  type UserPresence,
} from './presence-store';

const PREFIX = 'chatbox:presence:';
// the user's last announcement, in the user's hash beside the sockets' fields (socket ids never start
// with `~`); an instance of the earlier version reads them as entries that showed life at 0: none
const ANNOUNCED = '~status';
const VERSION = '~version';

// One change of a user's presence, atomic (a script runs alone in Redis): the socket's field written
// or deleted, the user's status computed from the fields that showed life within the timeout, and,
// when it differs from the one announced last, recorded as announced with the next version: above the
// last one and never below Redis's clock in microseconds, so a version stays above every earlier one
// of the user even after the key expired. A hash with no announcement recorded (Redis restarted empty,
// or the key expired) announces the status whatever it is: the rooms may have been told anything.
// Until the presence audit of session 44 a missing `~status` read as "offline announced": a member
// told online before Redis restarted empty, whose last socket closed before their entry was written
// again, was removed from an empty hash, nothing announced, and stayed online in their rooms for good
// (3 of 3 runs, 4 of 4 members). Returns {status, version}, or nil when nothing changed.
// KEYS[1] the user's hash; ARGV: 'touch' or 'remove', the socket, `status:seenAt` (touch), now (ms),
// the timeout (ms), the key's life (ms), '1' to announce the status even when unchanged
const CHANGE = `
local key = KEYS[1]
if ARGV[1] == 'touch' then
  redis.call('hset', key, ARGV[2], ARGV[3])
  redis.call('pexpire', key, ARGV[6])
else
  redis.call('hdel', key, ARGV[2])
end
local since = tonumber(ARGV[4]) - tonumber(ARGV[5])
local status = 'offline'
local fields = redis.call('hgetall', key)
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 1) ~= '~' then
    local value = fields[i + 1]
    local colon = string.find(value, ':', 1, true)
    local seenAt = colon and tonumber(string.sub(value, colon + 1)) or 0
    if colon and seenAt >= since then
      if string.sub(value, 1, colon - 1) == 'away' then
        if status == 'offline' then status = 'away' end
      else
        status = 'online'
      end
    end
  end
end
-- no announcement recorded: nothing is known of what the rooms were told (Redis restarted empty, or
-- the key expired), and the status is announced whatever it is
local announced = redis.call('hget', key, '${ANNOUNCED}')
if announced == status and ARGV[7] ~= '1' then return nil end
local time = redis.call('time')
local version = math.max((tonumber(redis.call('hget', key, '${VERSION}')) or 0) + 1,
  tonumber(time[1]) * 1000000 + tonumber(time[2]))
local versionText = string.format('%.0f', version)
redis.call('hset', key, '${ANNOUNCED}', status, '${VERSION}', versionText)
-- a forced announcement may have made the key (Redis restarted): it expires as any
if redis.call('pttl', key) < 0 then redis.call('pexpire', key, ARGV[6]) end
return {status, versionText}
`;

type ChangeReply = [string, string] | null;
interface PresenceRedis extends Redis {
  presenceChange(
    key: string,
    operation: 'touch' | 'remove',
    socketId: string,
    value: string,
    now: number,
    timeoutMs: number,
    lifeMs: number,
    announce: '0' | '1',
  ): Promise<ChangeReply>;
}

// Several instances: a Redis hash per user, one field per socket (`status:lastSeenMs`) and the user's
// last announcement. The key expires two timeouts after its last touch, so a user whose every instance
// died leaves nothing. While Redis is away the calls fail and the caller reports nothing (presence is
// best effort; the messages themselves never depend on it).
export class RedisPresenceStore implements PresenceStore {
  private readonly client: PresenceRedis;
  private closed = false;

  constructor(
    url: string,
    private readonly timeoutMs: number,
  ) {
    const client = redisConnection(url, 'presence', {}, () => this.closed);
    // EVALSHA, the script sent again when Redis does not know it (a restart)
    client.defineCommand('presenceChange', { numberOfKeys: 1, lua: CHANGE });
    this.client = client as PresenceRedis;
  }

  async touch(
    userId: string,
    socketId: string,
    status: DeviceStatus,
    seenAt: number,
    now: number,
  ): Promise<PresenceAnnouncement | null> {
    if (this.closed) return null;
    return announcement(
      await this.client.presenceChange(
        PREFIX + userId,
        'touch',
        socketId,
        `${status}:${seenAt}`,
        now,
        this.timeoutMs,
        this.timeoutMs * 2,
        '0',
      ),
    );
  }

  // a removal of a field no socket has ('~' fields are the user's own, and `~settle` is none of them)
  settle(userId: string, now: number, announce = false): Promise<PresenceAnnouncement | null> {
    return this.remove(userId, '~settle', now, announce);
  }

  async remove(
    userId: string,
    socketId: string,
    now: number,
    announce = false,
  ): Promise<PresenceAnnouncement | null> {
    // shutting down: the other instances stop counting this one's sockets after the timeout
    if (this.closed) return null;
    return announcement(
      await this.client.presenceChange(
        PREFIX + userId,
        'remove',
        socketId,
        '',
        now,
        this.timeoutMs,
        this.timeoutMs * 2,
        announce ? '1' : '0',
      ),
    );
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
      const entries = error
        ? []
        : Object.entries((fields ?? {}) as Record<string, string>)
            .filter(([field]) => !field.startsWith('~'))
            .map(([, value]) => parseEntry(value));
      result.set(userId, combine(entries, since));
    });
    return result;
  }

  async announced(userId: string): Promise<PresenceAnnouncement> {
    if (this.closed) return { status: 'offline', version: 0 };
    const [status, version] = await this.client.hmget(PREFIX + userId, ANNOUNCED, VERSION);
    return { status: parseStatus(status ?? 'offline'), version: Number(version) || 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client.disconnect();
    return Promise.resolve();
  }
}

function announcement(reply: ChangeReply): PresenceAnnouncement | null {
  return reply ? { status: parseStatus(reply[0]), version: Number(reply[1]) } : null;
}

function parseStatus(value: string): UserPresence {
  return value === 'online' || value === 'away' ? value : 'offline';
}

function parseEntry(value: string): { status: DeviceStatus; seenAt: number } {
  const [status, seenAt] = value.split(':');
  return { status: status === 'away' ? 'away' : 'online', seenAt: Number(seenAt) || 0 };
}

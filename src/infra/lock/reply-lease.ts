import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';

// `replies`, not the `reply` of the string key it replaced: an instance of the earlier version still
// running in a rolling deploy never meets a key of the other type (WRONGTYPE) there
const PREFIX = 'chatbox:replies:';

// A session's key is a sorted set: each instance answering it, scored by when its hold lapses (the
// server's clock). One key naming one instance was overwritten by whichever instance wrote last, so
// one instance letting go deleted the other's hold: a takeover's start then saw no reply streaming
// and logged its admin_join before that reply was stored (test/integration/reply-leases.int-spec.ts).
const NOW = `local t = redis.call('time'); local now = t[1] * 1000 + math.floor(t[2] / 1000)`;
// KEYS[1] the session's key; ARGV[1] the instance, ARGV[2] the ttl (ms)
const ADD = `redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[2])`;
// the holds that lapsed go first
const PRUNE = `redis.call('zremrangebyscore', KEYS[1], '-inf', now)`;
const HOLD = `${NOW}
${ADD}
return 1`;
const HELD = `${NOW}
${PRUNE}
return redis.call('zcard', KEYS[1])`;
// ARGV[1] this instance: the holds of the others
const HELD_ELSEWHERE = `${NOW}
${PRUNE}
local held = redis.call('zcard', KEYS[1])
if redis.call('zscore', KEYS[1], ARGV[1]) then held = held - 1 end
return held`;
const CLAIM = `${NOW}
${PRUNE}
if redis.call('zcard', KEYS[1]) > 0 then return 0 end
${ADD}
return 1`;

export interface ReplyLeaseOptions {
  // how long a reply whose instance died stays claimed (renewed every ttl/3 while it runs)
  ttlMs: number;
}

// "This instance is answering session S": held from the moment a reply is requested until it is
// stored, so another instance can tell a turn that is being answered from one whose instance died
// (docs/protocol.md, "Every acked turn ends"). In-process (one instance) nothing else can answer,
// so the only holder to ask is the local ReplyService.
export interface ReplyLeases {
  // other instances may answer the session (the lease is Redis's, not this process's)
  readonly shared: boolean;
  hold(sessionId: string): () => void;
  // true when some instance holds the session's reply lease
  held(sessionId: string): Promise<boolean>;
  // true when an instance other than this one holds it
  heldElsewhere(sessionId: string): Promise<boolean>;
  // takes a lapsed lease for this instance; false when another instance holds it
  claim(sessionId: string): Promise<boolean>;
  // true when another instance holds it; false when that cannot be told (Redis away): a reply then
  // runs rather than waits (docs/protocol.md, "Every acked turn ends", one at a time)
  answeringElsewhere(sessionId: string): Promise<boolean>;
  close(): Promise<void>;
}

export const REPLY_LEASES = Symbol('REPLY_LEASES');

// a reply lease's life without renewal: how long a dead instance's reply still reads as running
export const REPLY_LEASE_TTL_MS = 10_000;

export class LocalReplyLeases implements ReplyLeases {
  readonly shared = false;

  hold(): () => void {
    return () => undefined;
  }

  held(): Promise<boolean> {
    return Promise.resolve(false);
  }

  heldElsewhere(): Promise<boolean> {
    return Promise.resolve(false);
  }

  claim(): Promise<boolean> {
    return Promise.resolve(true);
  }

  answeringElsewhere(): Promise<boolean> {
    return Promise.resolve(false);
  }

  async close(): Promise<void> {}
}

export class RedisReplyLeases implements ReplyLeases {
  readonly shared = true;
  private readonly client: Redis;
  private closing = false;

  constructor(
    url: string,
    private readonly instanceId: string,
    private readonly options: ReplyLeaseOptions = { ttlMs: REPLY_LEASE_TTL_MS },
  ) {
    this.client = redisConnection(url, 'reply-lease', {}, () => this.closing);
  }

  hold(sessionId: string): () => void {
    const key = PREFIX + sessionId;
    const set = () =>
      this.client.eval(HOLD, 1, key, this.instanceId, this.options.ttlMs).catch(() => undefined);
    void set();
    const renewal = setInterval(() => void set(), Math.floor(this.options.ttlMs / 3));
    renewal.unref();
    return () => {
      clearInterval(renewal);
      void this.client.zrem(key, this.instanceId).catch(() => undefined);
    };
  }

  async held(sessionId: string): Promise<boolean> {
    // Redis away: assume held, so no turn is answered twice; the check runs again later
    return Number(await this.client.eval(HELD, 1, PREFIX + sessionId).catch(() => 1)) > 0;
  }

  async heldElsewhere(sessionId: string): Promise<boolean> {
    // Redis away: assume held, as held() does
    const held = await this.client
      .eval(HELD_ELSEWHERE, 1, PREFIX + sessionId, this.instanceId)
      .catch(() => 1);
    return Number(held) > 0;
  }

  async answeringElsewhere(sessionId: string): Promise<boolean> {
    const held = await this.client
      .eval(HELD_ELSEWHERE, 1, PREFIX + sessionId, this.instanceId)
      .catch(() => 0);
    return Number(held) > 0;
  }

  async claim(sessionId: string): Promise<boolean> {
    const result = await this.client
      .eval(CLAIM, 1, PREFIX + sessionId, this.instanceId, this.options.ttlMs)
      .catch(() => 0);
    return Number(result) === 1;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.disconnect();
  }
}

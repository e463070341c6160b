import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';

const PREFIX = 'chatbox:reply:';
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface ReplyLeaseOptions {
  // how long a reply whose instance died stays claimed (renewed every ttl/3 while it runs)
  ttlMs: number;
}

// "This instance is answering session S": held from the moment a reply is requested until it is
// stored, so another instance can tell a turn that is being answered from one whose instance died
// (docs/protocol.md, "Every acked turn ends"). In-process (one instance) nothing else can answer,
// so the only holder to ask is the local ReplyService.
export interface ReplyLeases {
  hold(sessionId: string): () => void;
  // true when some instance holds the session's reply lease
  held(sessionId: string): Promise<boolean>;
  // takes a lapsed lease for this instance; false when another instance holds it
  claim(sessionId: string): Promise<boolean>;
  close(): Promise<void>;
}

export const REPLY_LEASES = Symbol('REPLY_LEASES');

// a reply lease's life without renewal: how long a dead instance's reply still reads as running
export const REPLY_LEASE_TTL_MS = 10_000;

export class LocalReplyLeases implements ReplyLeases {
  hold(): () => void {
    return () => undefined;
  }

  held(): Promise<boolean> {
    return Promise.resolve(false);
  }

  claim(): Promise<boolean> {
    return Promise.resolve(true);
  }

  async close(): Promise<void> {}
}

export class RedisReplyLeases implements ReplyLeases {
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
    const set = () => this.client.set(key, this.instanceId, 'PX', this.options.ttlMs).catch(() => undefined);
    void set();
    const renewal = setInterval(() => void set(), Math.floor(this.options.ttlMs / 3));
    renewal.unref();
    return () => {
      clearInterval(renewal);
      void this.client.eval(RELEASE, 1, key, this.instanceId).catch(() => undefined);
    };
  }

  async held(sessionId: string): Promise<boolean> {
    // Redis away: assume held, so no turn is answered twice; the check runs again later
    return (await this.client.exists(PREFIX + sessionId).catch(() => 1)) === 1;
  }

  async claim(sessionId: string): Promise<boolean> {
    const result = await this.client
      .set(PREFIX + sessionId, this.instanceId, 'PX', this.options.ttlMs, 'NX')
      .catch(() => null);
    return result === 'OK';
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.disconnect();
  }
}

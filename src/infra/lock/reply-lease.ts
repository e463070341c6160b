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
// ARGV[1] this instance, ARGV[2] the ttl: a renewal while this instance's own hold is live, or while
// no other instance holds the session (1); else 0 and nothing written. A plain ZADD let an instance
// paused past its hold, which another instance had claimed meanwhile, hold again on resuming (a
// pause is known before this, by the holder's own clock: RedisReplyLeases.lost). Until the review
// of session 43 a hold merely gone from Redis (evicted: the key has a ttl, so volatile-* policies
// take it first; a FLUSHDB; a failover that lost the last write) was lost too, with nobody else
// answering: the healthy reply was dropped (3 of 3 runs)
const RENEW = `${NOW}
local lapses = redis.call('zscore', KEYS[1], ARGV[1])
if not lapses or tonumber(lapses) <= now then
  ${PRUNE}
  if redis.call('zcard', KEYS[1]) > 0 then return 0 end
end
${ADD}
return 1`;
const CLAIM = `${NOW}
${PRUNE}
if redis.call('zcard', KEYS[1]) > 0 then return 0 end
${ADD}
return 1`;

export interface ReplyLeaseOptions {
  // how long a reply whose instance died stays claimed (renewed every ttl/3 while it runs)
  ttlMs: number;
  // Redis away or not answering: how long a reply waits for it before running anyway (ttlMs)
  awayRunMs?: number;
}

// "This instance is answering session S": held from the moment a reply is requested until it is
// stored, so another instance can tell a turn that is being answered from one whose instance died
// (docs/protocol.md, "Every acked turn ends"). In-process (one instance) nothing else can answer,
// so the only holder to ask is the local ReplyService.
export interface ReplyLeases {
  // other instances may answer the session (the lease is Redis's, not this process's)
  readonly shared: boolean;
  hold(sessionId: string): () => void;
  // This instance held the session's lease and does no longer: a renewal found its hold lapsed or
  // gone (another instance may have claimed it and answered the turn), or no renewal was confirmed for
  // the lease's ttl (the process was paused: known on resuming, before anything goes out, without a
  // round trip to Redis). It stays lost until the session's holds here are all let go; a reply shown
  // under it stops at once, storing nothing (docs/protocol.md, "Every acked turn ends")
  lost(sessionId: string, now?: number): boolean;
  // true when some instance holds the session's reply lease
  held(sessionId: string): Promise<boolean>;
  // true when an instance other than this one holds it
  heldElsewhere(sessionId: string): Promise<boolean>;
  // takes a lapsed lease for this instance; false when another instance holds it
  claim(sessionId: string): Promise<boolean>;
  // true when another instance holds it, or may (Redis away, or back from a loss while the holders
  // hold again); false once Redis has been away for longer than awayRunMs (never with
  // `waitForRedis`): a reply of the user's own action here then runs for its own turn rather than
  // waits (docs/protocol.md, "Every acked turn ends", one at a time)
  answeringElsewhere(sessionId: string, waitForRedis?: boolean): Promise<boolean>;
  // Redis away or not answering (the last command failed): the leases cannot be read
  readonly away: boolean;
  // away for longer than awayRunMs: what never runs without Redis (a regenerate) would wait for it
  // without bound, so it is refused rather than acked (docs/protocol.md, "Versions")
  readonly outage: boolean;
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

  // nobody else answers: a pause here loses nothing
  lost(): boolean {
    return false;
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

  readonly away = false;
  readonly outage = false;

  async close(): Promise<void> {}
}

// This instance's hold of a session: how many hold it here; when the last write or renewal that
// confirmed it was sent (or failed: Redis away, where nobody claims it either and a reply runs on:
// awayRunMs); whether one was written (a renewal is a compare from then on); and whether a renewal
// or the time since the last confirmed one found it lost (ReplyLeases.lost)
interface Holding {
  count: number;
  confirmedAt: number;
  written: boolean;
  lost: boolean;
}

function confirm(held: Holding, sentAt: number, written: boolean): void {
  if (held.lost) return;
  held.confirmedAt = Math.max(held.confirmedAt, sentAt);
  if (written) held.written = true;
}

// Redis restarted, it holds no lease: every holder holds again on reconnecting (and renews every
// ttl/3 anyway), and until then the sessions they answer read as answered by nobody. A turn watch on
// another instance then answered a turn whose reply was streaming, both replies interleaved on the
// user's devices (the CI chaos run of session 33; test/e2e/turns-redis-faults.e2e-spec.ts). So for
// ttl/3 after reconnecting from a loss, every session reads as held by another instance.
export class RedisReplyLeases implements ReplyLeases {
  readonly shared = true;
  private readonly client: Redis;
  private closing = false;
  // this instance's holds (session → how many), held again after a loss
  private readonly holding = new Map<string, Holding>();
  private readyAt = 0;
  private lostAt = 0;
  // since when Redis has been away or failing (unset while it answers)
  private awaySince?: number = Date.now();
  // releases sent and not answered yet: a stopping instance lets its leases go before it closes
  private readonly releasing = new Set<Promise<unknown>>();

  constructor(
    url: string,
    private readonly instanceId: string,
    private readonly options: ReplyLeaseOptions = { ttlMs: REPLY_LEASE_TTL_MS },
  ) {
    this.client = redisConnection(url, 'reply-lease', {}, () => this.closing);
    this.client.on('ready', () => {
      this.readyAt = Date.now();
      this.awaySince = undefined;
      // (a hold found lost stays so: another instance may answer its turn)
      if (this.lostAt > 0)
        for (const [sessionId, held] of this.holding) if (!held.lost) void this.set(sessionId);
    });
    this.client.on('close', () => {
      if (this.closing) return;
      this.awaySince ??= Date.now();
      if (this.readyAt > this.lostAt) this.lostAt = Date.now();
    });
  }

  // Writes this instance's hold of the session (HOLD): a hold's first write, and each again after a
  // loss of Redis (`ready`)
  private set(sessionId: string): Promise<unknown> {
    const held = this.holding.get(sessionId);
    const sentAt = performance.now();
    return this.client.eval(HOLD, 1, PREFIX + sessionId, this.instanceId, this.options.ttlMs).then(
      () => held && confirm(held, sentAt, true),
      () => held && confirm(held, sentAt, false),
    );
  }

  // back from a loss, within the time the holders take to hold again
  private recovering(): boolean {
    return (
      this.lostAt > 0 && this.readyAt > this.lostAt && Date.now() - this.readyAt < this.options.ttlMs / 3
    );
  }

  // a Redis command's answer, or `failed` when Redis is away or did not answer
  private async ask(script: string, sessionId: string, ...args: Array<string | number>): Promise<number> {
    try {
      const answer = Number(await this.client.eval(script, 1, PREFIX + sessionId, ...args));
      this.awaySince = undefined;
      return answer;
    } catch {
      this.awaySince ??= Date.now();
      return Number.NaN;
    }
  }

  // Renews the session's hold while it is this instance's live one, or nobody else's (RENEW): one that
  // finds another instance holding it, or that comes a ttl after the last confirmed one (the process
  // was paused past it, and another instance may have claimed it meanwhile), marks it lost and writes
  // nothing.
  // Until the pause audit of session 43 a renewal re-added the hold unconditionally: an instance
  // resumed after 10 s held again a lease another instance had claimed and answered the turn under,
  // and went on showing and storing its own reply (6 of 6 rounds)
  // A hold whose first write failed (Redis away, or not connected yet) is written again as it was
  // first, until one lands.
  private renew(sessionId: string): void {
    const held = this.holding.get(sessionId);
    if (!held || this.lost(sessionId)) return;
    if (!held.written) {
      void this.set(sessionId);
      return;
    }
    const sentAt = performance.now();
    void this.client.eval(RENEW, 1, PREFIX + sessionId, this.instanceId, this.options.ttlMs).then(
      // (after a Redis restart the holds are written again on reconnecting, before any renewal)
      (answer) => (Number(answer) === 1 ? confirm(held, sentAt, true) : (held.lost = true)),
      () => confirm(held, sentAt, false),
    );
  }

  // `now` on the monotonic clock (performance.now()): a step of the wall clock is no pause
  lost(sessionId: string, now = performance.now()): boolean {
    const held = this.holding.get(sessionId);
    if (!held) return false;
    if (!held.lost && now - held.confirmedAt >= this.options.ttlMs) held.lost = true;
    return held.lost;
  }

  hold(sessionId: string): () => void {
    const held = this.holding.get(sessionId);
    if (held) held.count++;
    else
      this.holding.set(sessionId, { count: 1, confirmedAt: performance.now(), lost: false, written: false });
    // the first hold, or one more while the others hold and it is not lost (it lengthens it for all)
    if (!this.lost(sessionId)) void this.set(sessionId);
    const renewal = setInterval(() => this.renew(sessionId), Math.floor(this.options.ttlMs / 3));
    renewal.unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearInterval(renewal);
      const entry = this.holding.get(sessionId);
      if (entry && entry.count > 1) {
        entry.count--;
        return;
      }
      this.holding.delete(sessionId);
      const sent: Promise<unknown> = this.client
        .zrem(PREFIX + sessionId, this.instanceId)
        .catch(() => undefined)
        .finally(() => this.releasing.delete(sent));
      this.releasing.add(sent);
    };
  }

  async held(sessionId: string): Promise<boolean> {
    // Redis away or recovering: assume held, so no turn is answered twice; the check runs again later
    if (this.recovering()) return true;
    const held = await this.ask(HELD, sessionId);
    return Number.isNaN(held) || held > 0;
  }

  async heldElsewhere(sessionId: string): Promise<boolean> {
    // as held()
    if (this.recovering()) return true;
    const held = await this.ask(HELD_ELSEWHERE, sessionId, this.instanceId);
    return Number.isNaN(held) || held > 0;
  }

  get away(): boolean {
    return this.awaySince !== undefined;
  }

  get outage(): boolean {
    return this.awaySince !== undefined && Date.now() - this.awaySince >= this.awayRunMs;
  }

  private get awayRunMs(): number {
    return this.options.awayRunMs ?? this.options.ttlMs;
  }

  async answeringElsewhere(sessionId: string, waitForRedis = false): Promise<boolean> {
    if (this.recovering()) return true;
    const held = await this.ask(HELD_ELSEWHERE, sessionId, this.instanceId);
    if (!Number.isNaN(held)) return held > 0;
    // away: wait for it, up to awayRunMs
    return waitForRedis || !this.outage;
  }

  async claim(sessionId: string): Promise<boolean> {
    if (this.recovering()) return false;
    return (await this.ask(CLAIM, sessionId, this.instanceId, this.options.ttlMs)) === 1;
  }

  // The releases sent last (the turns a stopping instance left: docs/protocol.md, "Graceful
  // shutdown") reach Redis first, each within the command timeout, rather than lapse 10 s later
  async close(): Promise<void> {
    await Promise.all(this.releasing);
    this.closing = true;
    this.client.disconnect();
  }
}

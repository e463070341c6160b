import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { redisConnection } from '../redis/redis-connection';
import { KeyedMutex } from '../../common/keyed-mutex';
import { LockUnavailableError, RenewedHold, type Hold, type KeyLock } from './lock';
import { newId } from '../../common/ids';

const PREFIX = 'chatbox:lock:';
// after (re)connecting to Redis, writes hold the fallback lock too for this long: another instance
// may not have noticed Redis is back yet and still lock with the fallback alone
const RECOVERY_MS = 30_000;
// release and renew only what this holder still owns (the token is the holder's identity)
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLockOptions {
  // how long a holder that stops renewing (paused, SIGKILLed) keeps the key
  ttlMs: number;
  // how long a writer waits for the key before giving up (the client gets an error, nothing is lost)
  waitMs: number;
  // after (re)connecting, how long writes hold the fallback lock too (RECOVERY_MS)
  recoveryMs?: number;
}

// SET NX PX with a random token, renewed every ttl/3 while the task runs, released by compare-and-
// delete. Tasks of this instance queue locally first, so only one of them polls Redis per key. A
// holder that dies loses the key after ttlMs; one that only pauses past it may still finish its
// write, which the store's compare-and-set on `seq` then refuses (on MongoDB; see docs/protocol.md).
export class RedisLock implements KeyLock {
  readonly kind = 'redis';
  private readonly client: Redis;
  private readonly local = new KeyedMutex();
  private closing = false;
  private readyAt = 0;
  private lostAt = 0;

  constructor(
    url: string,
    // taken instead while Redis is away: writes go on, still one at a time per key
    private readonly fallback?: KeyLock,
    private readonly options: RedisLockOptions = { ttlMs: 5_000, waitMs: 10_000 },
    redisOptions: RedisOptions = {},
  ) {
    // A command with no answer fails (commandTimeout), but the connection is not dropped for it (no
    // socketTimeout): a loss is a closed connection, which every instance sees when Redis restarts
    // or dies. A Redis that is only slow or paused may answer the others, which keep locking there
    // alone; one instance taking the store's lock alone beside them would write beside their
    // holders (the chaos test lost a message so). Its writers wait for the key (waitMs) instead.
    this.client = redisConnection(
      url,
      'lock',
      { socketTimeout: undefined, ...redisOptions },
      () => this.closing,
    );
    this.client.on('ready', () => (this.readyAt = Date.now()));
    // Redis lost while ready: keys taken in it before are gone with it, and their holders still run
    this.client.on('close', () => this.noteLoss());
  }

  run<T>(key: string, task: (hold: Hold) => Promise<T>): Promise<T> {
    // Redis away: the store's lock. For RECOVERY_MS after Redis comes back, writes take both, so an
    // instance still on the fallback alone is excluded too. Only one cut off from a Redis the others
    // have reached for longer than that escapes them; the seq compare-and-set is the guard left then
    // (exact on MongoDB).
    // A holder that took its key in Redis before Redis was lost holds nothing anywhere from then on,
    // and may run for up to ttlMs after its last renewal (as any holder may): for ttlMs after the
    // loss, this instance takes no key of any kind, so it never runs beside such a holder, with the
    // store's lock alone or with both (redis-lock-restart.int-spec.ts).
    // (Redis not ready may be a loss whose 'close' has not arrived yet)
    if (this.fallback && this.client.status !== 'ready') this.noteLoss();
    const quiet = this.quietMs();
    if (quiet > 0) return sleep(quiet).then(() => this.run(key, task));
    if (this.fallback && this.client.status !== 'ready') return this.fallback.run(key, task);
    return this.local.run(key, async () => {
      const name = PREFIX + key;
      const token = newId();
      let hold: RenewedHold;
      try {
        hold = new RenewedHold(this.options.ttlMs, await this.acquire(name, token));
      } catch (error) {
        if (!this.fallback || error instanceof LockUnavailableError) throw error;
        // Redis failed under this call: a loss, even before its 'close' arrives
        this.noteLoss();
        const quiet = this.quietMs();
        if (quiet > 0) await sleep(quiet);
        return this.fallback.run(key, task);
      }
      const renewal = setInterval(
        () => {
          const sentAt = performance.now();
          this.client
            .eval(RENEW, 1, name, token, this.options.ttlMs)
            .then((renewed) => hold.renewed(sentAt, Number(renewed) === 1))
            .catch(() => undefined);
        },
        Math.max(50, Math.floor(this.options.ttlMs / 3)),
      );
      renewal.unref();
      try {
        // both locks while instances may disagree on whether Redis is there (see RECOVERY_MS)
        if (this.fallback && Date.now() - this.readyAt < (this.options.recoveryMs ?? RECOVERY_MS))
          return await this.fallback.run(key, (also) => task({ lost: () => hold.lost() || also.lost() }));
        return await task(hold);
      } finally {
        clearInterval(renewal);
        // a failed release only leaves the key to expire (ttlMs)
        await this.client.eval(RELEASE, 1, name, token).catch(() => undefined);
      }
    });
  }

  // Redis lost while it was ready (once per loss); closing the lock is not a loss
  private noteLoss(): void {
    if (this.readyAt > this.lostAt && !this.closing) this.lostAt = Date.now();
  }

  private quietMs(): number {
    return this.lostAt + this.options.ttlMs - Date.now();
  }

  // performance.now() when the SET that took the key was sent (the first unanswered one, when a
  // later look found the key this writer's)
  private async acquire(name: string, token: string): Promise<number> {
    const started = Date.now();
    let pause = 2;
    let firstUnansweredAt: number | undefined;
    // a request that timed out may still run when Redis answers again, taking the key with this
    // token: the later ones then find it taken, by this writer. Until the Redis audit of session 34
    // the writer waited out the key's life as if another held it and failed past waitMs (a reply
    // stored after a 6 s freeze was refused "Busy here", 3 of 3 rounds)
    let unanswered = false;
    for (;;) {
      const sentAt = performance.now();
      try {
        if ((await this.client.set(name, token, 'PX', this.options.ttlMs, 'NX')) === 'OK') return sentAt;
        if (unanswered && (await this.client.get(name)) === token) return firstUnansweredAt ?? sentAt;
      } catch (error) {
        // Redis went away while waiting: the caller retries on the fallback. A command that timed
        // out on a connection still up is tried again, until waitMs (see the constructor)
        if (this.fallback && this.client.status !== 'ready') throw error;
        unanswered = true;
        firstUnansweredAt ??= sentAt;
      }
      if (Date.now() - started > this.options.waitMs)
        throw new LockUnavailableError(name, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.disconnect();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

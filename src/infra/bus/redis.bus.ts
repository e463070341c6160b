import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Bus, BusHandler, BusHealth } from './bus';
import { newId } from '../../common/ids';
import { redisConnection } from '../redis/redis-connection';

const PREFIX = 'chatbox:';
const RESYNC_TOPIC = '_resync';

interface Envelope {
  o: string;
  p: unknown;
}

// Redis pub/sub (ioredis): one connection publishes, one subscribes (a subscribed connection can do
// nothing else). Publishes fail fast while Redis is away instead of queueing without bound; what
// was missed is stored in MongoDB anyway, so when a connection is back this instance asks every
// instance (itself included) to resync from the database.
export class RedisBus implements Bus {
  readonly instanceId = newId();
  readonly kind = 'redis';
  private readonly logger = new Logger('bus');
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly handlers = new Map<string, BusHandler[]>();
  private readonly resyncHandlers: Array<() => void> = [];
  // set when a publish was dropped or a connection dropped: a resync is due once both are back
  private missed = false;
  private closing = false;

  constructor(url: string, options: RedisOptions = {}) {
    const name = this.instanceId.slice(0, 8);
    const closing = () => this.closing;
    this.publisher = redisConnection(url, `${name}-publisher`, options, closing);
    // subscriptions made while Redis is away wait for it (an offline queue, no command timeout, sent
    // again on a new connection when the old one dropped before answering): a subscription dropped
    // would never be made again
    this.subscriber = redisConnection(
      url,
      `${name}-subscriber`,
      {
        ...options,
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        commandTimeout: undefined,
        autoResendUnfulfilledCommands: true,
        // made again here (resubscribe), not by ioredis: its own are commands whose promises nobody
        // holds, and a close while one was unanswered (the app stopping as Redis came back) rejected
        // it unheard, "Connection is closed." (an app without main.ts's handler, a test's, failed on
        // it: test/integration/redis-bus-freeze.int-spec.ts)
        autoResubscribe: false,
      },
      closing,
    );
    this.subscriber.on('ready', () => this.resubscribe());
    for (const client of [this.publisher, this.subscriber]) {
      client.on('close', () => {
        if (!this.closing) this.missed = true;
      });
      client.on('ready', () => this.onReady());
    }
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      try {
        this.receive(channel.toString(), message.toString());
      } catch (error) {
        this.logger.error({ event: 'bus_receive_failed', err: String(error) }, 'bus message dropped');
      }
    });
    void this.subscriber.subscribe(PREFIX + RESYNC_TOPIC).catch(() => undefined);
  }

  publish(topic: string, payload: unknown): void {
    void this.publishConfirmed(topic, payload);
  }

  async publishConfirmed(topic: string, payload: unknown): Promise<boolean> {
    if (this.publisher.status !== 'ready') {
      this.missed = true;
      return false;
    }
    try {
      const message = JSON.stringify({ o: this.instanceId, p: payload } satisfies Envelope);
      await this.publisher.publish(PREFIX + topic, message);
      return true;
    } catch {
      this.missed = true;
      return false;
    }
  }

  subscribe(topic: string, handler: BusHandler): void {
    if (!this.handlers.has(topic)) void this.subscriber.subscribe(PREFIX + topic).catch(() => undefined);
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler]);
  }

  // every topic again on a new connection (the first's too: a SUBSCRIBE of a topic already heard
  // changes nothing)
  private resubscribe(): void {
    const channels = [RESYNC_TOPIC, ...this.handlers.keys()].map((topic) => PREFIX + topic);
    void this.subscriber.subscribe(...channels).catch(() => undefined);
  }

  onResync(handler: () => void): void {
    this.resyncHandlers.push(handler);
  }

  // a Redis that keeps the connections open and answers nothing is down too: the PING finds it when
  // nothing else was sent meanwhile (docs/protocol.md, "Redis that stops answering")
  async health(timeoutMs = 1_500): Promise<BusHealth> {
    const up = this.publisher.status === 'ready' && this.subscriber.status === 'ready';
    if (!up)
      return { up, detail: `publisher ${this.publisher.status}, subscriber ${this.subscriber.status}` };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const answered = await Promise.race([
      this.publisher.ping().then(
        () => true,
        () => false,
      ),
      late,
    ]);
    clearTimeout(timer);
    return answered ? { up } : { up: false, detail: 'no answer to PING' };
  }

  // QUIT when connected (pending publishes go out first); otherwise drop the connection at once
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [this.publisher, this.subscriber].map(async (client) => {
        if (client.status !== 'ready') return client.disconnect();
        const quit = client.quit().catch(() => undefined);
        const timeout = new Promise((resolve) => setTimeout(resolve, 1000).unref());
        await Promise.race([quit, timeout]);
        client.disconnect();
      }),
    );
  }

  private onReady(): void {
    if (!this.missed || this.publisher.status !== 'ready' || this.subscriber.status !== 'ready') return;
    this.missed = false;
    this.logger.log({ event: 'redis_back' }, 'redis reachable again; resyncing');
    // others may have missed what this instance published, and this instance what they published
    this.publish(RESYNC_TOPIC, null);
    this.runResync();
  }

  // Called from the Redis socket's own 'data' event: a throw here would end the process, so a message
  // that is not an envelope of ours (anything published on our channels: `null`, a number, another
  // app's shape) is dropped (docs/protocol.md, "Bad input").
  private receive(channel: string, raw: string): void {
    if (!channel.startsWith(PREFIX)) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(raw) as Envelope;
    } catch {
      return;
    }
    if (typeof envelope !== 'object' || envelope === null || typeof envelope.o !== 'string') return;
    if (envelope.o === this.instanceId) return;
    const topic = channel.slice(PREFIX.length);
    if (topic === RESYNC_TOPIC) {
      this.runResync();
      return;
    }
    for (const handler of this.handlers.get(topic) ?? []) {
      try {
        handler(envelope.p, envelope.o);
      } catch (error) {
        this.logger.error({ event: 'bus_handler_failed', topic, err: String(error) }, 'bus handler failed');
      }
    }
  }

  private runResync(): void {
    for (const handler of this.resyncHandlers) {
      try {
        handler();
      } catch (error) {
        this.logger.error({ event: 'resync_failed', err: String(error) }, 'resync failed');
      }
    }
  }
}

import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { type Settings } from '../../src/config/settings';
import { AlertLimiter } from '../../src/modules/notifications/alert-limiter';
import { AlertsService } from '../../src/modules/notifications/alerts.service';
import { DeliveryService } from '../../src/modules/notifications/delivery.service';
import { InstanceWatch } from '../../src/modules/notifications/instance-watch.service';
import {
  NOTIFICATION_CIPHER,
  NotificationsRepository,
} from '../../src/modules/notifications/notifications.repository';
import {
  InstanceBeat,
  InstanceBeatSchema,
  Notification,
  NotificationMark,
  NotificationMarkSchema,
  NotificationSchema,
} from '../../src/modules/notifications/schemas/notification.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

// The notifications collection, its unique marks and the crash watch against FerretDB. Two
// service graphs on one database stand for two instances.
describe('notifications against FerretDB', () => {
  let settings: Settings;
  const modules: TestingModule[] = [];

  async function instance(): Promise<TestingModule> {
    const module = await Test.createTestingModule({
      imports: [
        ...databaseModules(settings),
        MongooseModule.forFeature([
          { name: Notification.name, schema: NotificationSchema },
          { name: NotificationMark.name, schema: NotificationMarkSchema },
          { name: InstanceBeat.name, schema: InstanceBeatSchema },
        ]),
      ],
      providers: [
        {
          provide: NOTIFICATION_CIPHER,
          useFactory: () => new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
        },
        NotificationsRepository,
        AlertLimiter,
        DeliveryService,
        AlertsService,
        InstanceWatch,
      ],
    }).compile();
    // no timers: the test drives check() itself
    await module.get(NotificationsRepository).onModuleInit();
    modules.push(module);
    return module;
  }

  beforeAll(() => {
    settings = testSettings({
      ALERT_LIMIT_PER_TYPE: '3',
      ALERT_LIMIT_WINDOW: '1h',
      HEALTH_WATCH_INTERVAL: '1s',
    });
  });
  afterAll(async () => {
    for (const module of modules) await module.close();
  });

  it('should hand out each mark once across instances racing for it', async () => {
    const [one, two] = [await instance(), await instance()];
    const repositories = [one, two].map((module) => module.get(NotificationsRepository));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => repositories[index % 2].mark('race:1', 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('should allow exactly the per-type limit across two instances, however the calls interleave', async () => {
    const [one, two] = [await instance(), await instance()];
    const limiters = [one, two].map((module) => module.get(AlertLimiter));
    const at = new Date();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, index) => limiters[index % 2].allow('abnormal_traffic', undefined, at)),
    );
    expect(results.filter(Boolean)).toHaveLength(3);
  });

  // one user could otherwise spend the whole per-type budget (a help request from each of many new
  // sessions, or a report of each of many messages), and nobody else's would page the admins
  it("should keep one user's alerts to one per type per window, leaving the budget to everyone else", async () => {
    const limiter = (await instance()).get(AlertLimiter);
    const at = new Date(Date.now() + 3_600_000 * 20);
    const noisy = [];
    for (let index = 0; index < 5; index++)
      noisy.push(await limiter.allow('help_request', `noisy-${index}`, at, 'noisy-user'));
    expect(noisy).toEqual([true, false, false, false, false]);
    expect(await limiter.allow('help_request', 'quiet-1', at, 'quiet-user')).toBe(true);
    // and reports, which name no session
    const reports = [];
    for (let index = 0; index < 3; index++)
      reports.push(await limiter.allow('message_report', undefined, at, 'noisy-user'));
    expect(reports).toEqual([true, false, false]);
    expect(await limiter.allow('message_report', undefined, at, 'quiet-user')).toBe(true);
  });

  it('should store alerts with the reason encrypted and give it back in clear', async () => {
    const module = await instance();
    const alerts = module.get(AlertsService);
    const record = await alerts.raise({
      type: 'help_request',
      userId: 'u-int',
      sessionId: 's-int',
      reason: 'secret reason',
    });
    const raw = await module
      .get<Model<Notification>>(getModelToken(Notification.name))
      .findById(record?.id)
      .lean();
    expect(raw?.reason).not.toContain('secret');
    const [stored] = await module.get(NotificationsRepository).find({ sessionId: 's-int' });
    expect(stored).toMatchObject({
      reason: 'secret reason',
      status: 'sent',
      channels: ['log'],
      user_id: 'u-int',
    });
  });

  it('should put each held-back alert in exactly one digest when two instances digest at once', async () => {
    const [one, two] = [await instance(), await instance()];
    const held = await Promise.all(
      Array.from({ length: 4 }, () =>
        one.get(AlertsService).raise({ type: 'help_request', sessionId: 'one-session' }),
      ),
    );
    expect(held.filter((record) => record?.status === 'suppressed')).toHaveLength(3);
    const now = new Date(Date.now() + 3_600_000 * 5);
    const digests = await Promise.all([
      one.get(AlertsService).digest(now),
      two.get(AlertsService).digest(now),
    ]);
    const sent = digests.filter((digest) => digest !== undefined);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.summary).toEqual({ help_request: 3 });
  });

  // Two digests that overlap anyway (a slow one running into the next interval, or two instances
  // whose clocks straddle an interval's end) take each held alert once: FerretDB applies the
  // `digest_id: null` update as an unlocked read-modify-write, so the update alone is no claim.
  it('should give each held alert to one digest when digests race for them', async () => {
    const [one, two] = [await instance(), await instance()];
    const sessions = Array.from({ length: 30 }, (_, index) => `race-session-${index}`);
    const stored = await Promise.all(
      sessions.map((sessionId) =>
        one.get(NotificationsRepository).insert({
          id: `held-${sessionId}`,
          kind: 'alert',
          type: 'help_request',
          user_id: null,
          session_id: sessionId,
          affected_users: 0,
          details: null,
          reason: null,
          link: null,
          at: new Date(),
          channels: ['log'],
          sent: [],
          status: 'suppressed',
          attempts: 0,
          next_attempt_at: null,
          last_error: null,
          digest_id: null,
          summary: null,
        }),
      ),
    );
    expect(stored).toHaveLength(30);
    const repositories = [one, two].map((module) => module.get(NotificationsRepository));
    const taken = await Promise.all(
      Array.from({ length: 8 }, (_, index) => repositories[index % 2].takeSuppressed(`digest-${index}`)),
    );
    const ids = taken
      .flat()
      .map((record) => record.id)
      .filter((id) => id.startsWith('held-race-'));
    expect(ids.sort()).toEqual(sessions.map((sessionId) => `held-${sessionId}`).sort());
  });

  // A digest's mark expires on the digest's own clock: a mark timed by the wall clock was older than
  // the `now` it was taken for, so the purge right after deleted it, and another instance (or a
  // clock ahead of this one) digested the same interval again, racing for the same alerts.
  it("should send one digest per interval, also when the interval is not the wall clock's", async () => {
    const [one, two] = [await instance(), await instance()];
    const raise = () => one.get(AlertsService).raise({ type: 'help_request', sessionId: 'interval-session' });
    for (let index = 0; index < 4; index++) await raise();
    const now = new Date(Date.now() + 3_600_000 * 9);
    expect((await one.get(AlertsService).digest(now))?.summary).toMatchObject({ help_request: 3 });
    // one more held back (past the per-type limit) for a second digest of the interval to take
    let held = false;
    for (let index = 0; index < 5 && !held; index++) held = (await raise())?.status === 'suppressed';
    expect(held).toBe(true);
    expect(await two.get(AlertsService).digest(now)).toBeUndefined();
    expect(await one.get(AlertsService).digest(now)).toBeUndefined();
  });

  it('should report an instance that stopped beating without shutting down once, from either survivor', async () => {
    const [one, two] = [await instance(), await instance()];
    const beats = one.get<Model<InstanceBeat>>(getModelToken(InstanceBeat.name));
    const long = new Date(Date.now() - 60_000);
    await beats.create({
      _id: 'crashed-instance-id',
      host: 'box-7',
      pid: 4242,
      started_at: long,
      last_seen: long,
    });
    await Promise.all([one.get(InstanceWatch).check(), two.get(InstanceWatch).check()]);
    const crashes = await one.get(NotificationsRepository).find({ type: 'crash' });
    expect(crashes).toHaveLength(1);
    expect(crashes[0].details).toContain('box-7 (pid 4242)');
    expect(await beats.exists({ _id: 'crashed-instance-id' })).toBeNull();
    // a clean stop is not a crash: the instance removes its own beat
    await one.get(InstanceWatch).beforeApplicationShutdown();
    await two.get(InstanceWatch).check(new Date(Date.now() + 60_000));
    expect(await one.get(NotificationsRepository).find({ type: 'crash' })).toHaveLength(1);
  });
});

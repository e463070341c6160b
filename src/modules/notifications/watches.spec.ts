import { ErrorCode } from '../../common/errors/error-code';
import { loadNotificationSettings } from '../../config/notifications.settings';
import type { Settings } from '../../config/settings';
import type { ChatMetrics } from '../metrics/chat-metrics';
import type { AlertsService } from './alerts.service';
import { InstanceWatch } from './instance-watch.service';
import type { NotificationsRepository } from './notifications.repository';
import { TrafficWatch } from './traffic-watch.service';

const settings = {
  notifications: loadNotificationSettings({
    ABNORMAL_RATE_LIMITED_PER_MINUTE: '60',
    ABNORMAL_ERRORS_PER_MINUTE: '30',
    HEALTH_WATCH_INTERVAL: '10s',
  }),
} as Settings;

describe(TrafficWatch.name, () => {
  function setup() {
    const counts: Record<string, number> = {};
    const metrics = {
      errors: {
        get: () =>
          Promise.resolve({
            values: Object.entries(counts).map(([code, value]) => ({ labels: { code }, value })),
          }),
      },
    } as unknown as ChatMetrics;
    const alerts = { raise: jest.fn().mockResolvedValue(undefined) };
    const watch = new TrafficWatch(metrics, alerts as unknown as AlertsService, settings);
    return { counts, alerts, watch };
  }

  it('should raise abnormal_traffic when rate-limit rejections per minute pass the limit', async () => {
    const { counts, alerts, watch } = setup();
    counts[ErrorCode.RATE_LIMITED] = 10;
    await watch.check(0);
    counts[ErrorCode.RATE_LIMITED] = 10 + 61;
    await watch.check(60_000);
    expect(alerts.raise).toHaveBeenCalledWith({
      type: 'abnormal_traffic',
      details: expect.stringContaining('61 rate-limit rejections/min (limit 60)'),
    });
  });

  it('should count server errors, scale to a minute, and ignore client mistakes', async () => {
    const { counts, alerts, watch } = setup();
    await watch.check(0);
    counts[ErrorCode.INVALID_MESSAGE] = 1000;
    counts[ErrorCode.INTERNAL] = 10;
    await watch.check(30_000);
    expect(alerts.raise).not.toHaveBeenCalled();
    // 16 more in the next 30 s: 32 a minute
    counts[ErrorCode.LLM_UNAVAILABLE] = 16;
    await watch.check(60_000);
    expect(alerts.raise).toHaveBeenCalledWith(
      expect.objectContaining({ details: expect.stringContaining('32 server errors/min') }),
    );
  });
});

describe(InstanceWatch.name, () => {
  function setup() {
    const repository = {
      beat: jest.fn().mockResolvedValue(undefined),
      stale: jest.fn().mockResolvedValue([]),
      mark: jest.fn().mockResolvedValue(true),
      forget: jest.fn().mockResolvedValue(undefined),
    };
    const alerts = { raise: jest.fn().mockResolvedValue(undefined) };
    const watch = new InstanceWatch(
      repository as unknown as NotificationsRepository,
      alerts as unknown as AlertsService,
      settings,
    );
    return { repository, alerts, watch };
  }

  it('should raise database_failure once when MongoDB stops answering, and again after it came back and failed', async () => {
    const { repository, alerts, watch } = setup();
    repository.beat.mockRejectedValue(new Error('connection refused'));
    await watch.check();
    await watch.check();
    expect(alerts.raise).toHaveBeenCalledTimes(1);
    expect(alerts.raise).toHaveBeenCalledWith(
      expect.objectContaining({
        type: 'database_failure',
        details: expect.stringContaining('connection refused'),
      }),
    );
    repository.beat.mockResolvedValue(undefined);
    await watch.check();
    repository.beat.mockRejectedValue(new Error('timeout'));
    await watch.check();
    expect(alerts.raise).toHaveBeenCalledTimes(2);
  });

  it('should report a silent instance as crashed only when it wins the crash mark', async () => {
    const { repository, alerts, watch } = setup();
    const beat = { _id: 'other', host: 'h', pid: 1, started_at: new Date(0), last_seen: new Date(0) };
    repository.stale.mockResolvedValue([beat]);
    repository.mark.mockResolvedValueOnce(false).mockResolvedValueOnce(true);
    await watch.check();
    expect(alerts.raise).not.toHaveBeenCalled();
    await watch.check();
    expect(alerts.raise).toHaveBeenCalledWith(expect.objectContaining({ type: 'crash' }));
    expect(repository.forget).toHaveBeenCalledWith('other');
    const since = repository.stale.mock.calls[0][0] as Date;
    expect(Date.now() - since.getTime()).toBeGreaterThanOrEqual(30_000);
  });
});

import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { ChatMetrics } from '../metrics/chat-metrics';
import { AlertsService } from './alerts.service';

// Server-side failures; client mistakes (bad frames, too long, unknown model…) are not abnormal.
const SERVER_ERRORS = new Set<string>([ErrorCode.INTERNAL, ErrorCode.LLM_UNAVAILABLE]);

// Abnormal traffic: rate-limit rejections or server errors per minute above the configured rates,
// read from the error counter every transport already keeps (chatbox_errors_total).
@Injectable()
export class TrafficWatch implements OnModuleInit, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private last?: { at: number; rateLimited: number; errors: number };

  constructor(
    private readonly metrics: ChatMetrics,
    private readonly alerts: AlertsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.check(), this.settings.notifications.traffic.checkIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async check(now = Date.now()): Promise<void> {
    const counts = { rateLimited: 0, errors: 0 };
    for (const { labels, value } of (await this.metrics.errors.get()).values) {
      if (labels.code === ErrorCode.RATE_LIMITED) counts.rateLimited += value;
      else if (SERVER_ERRORS.has(String(labels.code))) counts.errors += value;
    }
    const previous = this.last;
    this.last = { at: now, ...counts };
    if (!previous || now <= previous.at) return;
    const perMinute = (count: number) => (count * 60_000) / (now - previous.at);
    const rateLimited = perMinute(counts.rateLimited - previous.rateLimited);
    const errors = perMinute(counts.errors - previous.errors);
    const limits = this.settings.notifications.traffic;
    if (rateLimited <= limits.rateLimitedPerMinute && errors <= limits.errorsPerMinute) return;
    await this.alerts.raise({
      type: 'abnormal_traffic',
      details:
        `${Math.round(rateLimited)} rate-limit rejections/min (limit ${limits.rateLimitedPerMinute}), ` +
        `${Math.round(errors)} server errors/min (limit ${limits.errorsPerMinute}) over the last ` +
        `${Math.round((now - previous.at) / 1000)} s`,
    });
  }
}

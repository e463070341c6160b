import { Injectable } from '@nestjs/common';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';

export const ALERT_METRIC_PROVIDERS = [
  makeCounterProvider({
    name: 'chatbox_alerts_failed_total',
    help: 'Alerts given up on: a channel still failed when ALERT_RETRY_FOR was over',
    labelNames: ['type'],
  }),
];

@Injectable()
export class AlertMetrics {
  constructor(@InjectMetric('chatbox_alerts_failed_total') private readonly failures: Counter<string>) {}

  failed(type: string): void {
    this.failures.inc({ type });
  }
}

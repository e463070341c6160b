import { Injectable } from '@nestjs/common';
import {
  InjectMetric,
  makeCounterProvider,
  makeGaugeProvider,
  makeHistogramProvider,
} from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];

export const METRIC_PROVIDERS = [
  makeGaugeProvider({ name: 'chatbox_ws_connections', help: 'Open WebSocket connections' }),
  makeCounterProvider({
    name: 'chatbox_messages_in_total',
    help: 'Client messages received',
    labelNames: ['type'],
  }),
  makeCounterProvider({
    name: 'chatbox_messages_out_total',
    help: 'Stored messages sent to clients',
    labelNames: ['type'],
  }),
  makeCounterProvider({ name: 'chatbox_errors_total', help: 'Errors sent to clients', labelNames: ['code'] }),
  makeHistogramProvider({
    name: 'chatbox_llm_response_seconds',
    help: 'LLM reply time from request to last token',
    labelNames: ['model'],
    buckets: LATENCY_BUCKETS,
  }),
  makeHistogramProvider({
    name: 'chatbox_llm_first_token_seconds',
    help: 'LLM time to first token',
    labelNames: ['model'],
    buckets: LATENCY_BUCKETS,
  }),
  makeCounterProvider({
    name: 'chatbox_llm_tokens_total',
    help: 'LLM tokens',
    labelNames: ['model', 'kind'],
  }),
];

// Typed access to the service's Prometheus metrics.
@Injectable()
export class ChatMetrics {
  constructor(
    @InjectMetric('chatbox_ws_connections') readonly connections: Gauge<string>,
    @InjectMetric('chatbox_messages_in_total') readonly messagesIn: Counter<string>,
    @InjectMetric('chatbox_messages_out_total') readonly messagesOut: Counter<string>,
    @InjectMetric('chatbox_errors_total') readonly errors: Counter<string>,
    @InjectMetric('chatbox_llm_response_seconds') readonly llmResponse: Histogram<string>,
    @InjectMetric('chatbox_llm_first_token_seconds') readonly llmFirstToken: Histogram<string>,
    @InjectMetric('chatbox_llm_tokens_total') readonly llmTokens: Counter<string>,
  ) {}
}

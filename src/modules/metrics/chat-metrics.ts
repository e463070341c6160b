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
    // counted where each is stored, once (RecordService, ReplyRecorder); help said so of AI replies
    // alone until the metrics audit of session 42
    help: 'Session events stored and sent to the session clients, by type (user_message, ai_response, admin and system events, ...)',
    labelNames: ['type'],
  }),
  makeCounterProvider({ name: 'chatbox_errors_total', help: 'Errors sent to clients', labelNames: ['code'] }),
  makeHistogramProvider({
    name: 'chatbox_llm_response_seconds',
    help: 'LLM reply time from request to last token',
    labelNames: ['provider', 'model'],
    buckets: LATENCY_BUCKETS,
  }),
  makeHistogramProvider({
    name: 'chatbox_llm_first_token_seconds',
    help: 'LLM time to first token',
    labelNames: ['provider', 'model'],
    buckets: LATENCY_BUCKETS,
  }),
  makeCounterProvider({
    name: 'chatbox_llm_tokens_total',
    help: 'LLM tokens (kind: prompt or completion)',
    labelNames: ['provider', 'model', 'kind'],
  }),
  makeCounterProvider({
    name: 'chatbox_llm_requests_total',
    help: 'LLM replies by outcome: ok, stopped, interrupted, unavailable',
    labelNames: ['provider', 'model', 'outcome'],
  }),
  makeCounterProvider({
    name: 'chatbox_llm_retries_total',
    help: 'LLM attempts retried after a failure before the first token',
    labelNames: ['provider', 'model'],
  }),
  makeGaugeProvider({
    name: 'chatbox_llm_circuit_open',
    help: '1 while the circuit breaker of a model is open',
    labelNames: ['provider', 'model'],
  }),
  makeCounterProvider({
    name: 'chatbox_help_requests_total',
    help: 'Help requests stored (user asked for a human)',
  }),
  makeCounterProvider({
    name: 'chatbox_takeovers_total',
    help: 'Admin takeovers by event: started, or ended (reason: released or lapsed)',
    labelNames: ['event', 'reason'],
  }),
  makeHistogramProvider({
    name: 'chatbox_help_response_seconds',
    help: 'Time from a help request to the takeover that answered it',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1800, 3600],
  }),
  makeCounterProvider({
    name: 'chatbox_feedback_total',
    help: 'Ratings of AI replies by users, by model and rating (up, down)',
    labelNames: ['model', 'rating'],
  }),
  makeCounterProvider({
    name: 'chatbox_csat_total',
    help: 'Ratings (1-5) users gave a takeover when it ended, by admin (a changed rating counts again)',
    labelNames: ['admin', 'rating'],
  }),
  makeCounterProvider({
    name: 'chatbox_regenerations_total',
    help: 'Regenerated replies stored (asked for by the user, counted once each), by model',
    labelNames: ['model'],
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
    @InjectMetric('chatbox_llm_requests_total') readonly llmRequests: Counter<string>,
    @InjectMetric('chatbox_llm_retries_total') readonly llmRetries: Counter<string>,
    @InjectMetric('chatbox_llm_circuit_open') readonly llmCircuitOpen: Gauge<string>,
    @InjectMetric('chatbox_help_requests_total') readonly helpRequests: Counter<string>,
    @InjectMetric('chatbox_takeovers_total') readonly takeovers: Counter<string>,
    @InjectMetric('chatbox_help_response_seconds') readonly helpResponse: Histogram<string>,
    @InjectMetric('chatbox_feedback_total') readonly feedback: Counter<string>,
    @InjectMetric('chatbox_csat_total') readonly csat: Counter<string>,
    @InjectMetric('chatbox_regenerations_total') readonly regenerations: Counter<string>,
  ) {}
}

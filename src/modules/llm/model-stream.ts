import { Injectable } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-code';
import {
  type LlmChunk,
  LlmProviderError,
  type LlmRequest,
  type LlmUsage,
} from '../../infra/llm/llm-provider';
import { ChatMetrics } from '../metrics/chat-metrics';
import { LlmEvents } from './llm-events';
import type { ModelEntry } from './llm.registry';
import { CircuitOpenError, resilientStream } from './resilient-stream';
import { describeError } from '../../common/logging/logging';

// Who a model call answers: an AI session's user, or a room's asker (for failure events and alerts).
export interface ModelCaller {
  userId: string;
  sessionId?: string;
  roomId?: string;
}

export interface ModelStreamHooks {
  // a piece of the reply, and where it goes in the text so far
  onDelta(text: string, offset: number): void;
  // the whole reply so far is this text instead (Dify's output moderation); later pieces go after it
  onReplace?(text: string): void;
  // an attempt failed before the first token and another follows after delayMs
  onRetry?(info: { attempt: number; attempts: number; delayMs: number }): void;
  // a stateful vendor's conversation state (Dify)
  onState?(providerState: Record<string, unknown>): void;
  // a file the model produced
  onFile?(file: { url: string; kind?: string }): void;
}

export interface ModelStreamResult {
  text: string;
  usage?: LlmUsage;
  responseMs: number;
  firstTokenMs?: number;
  // why the reply failed: the stream broke, or ended with nothing in it (undefined when it ended with
  // a reply, or was aborted by its signal)
  failure: unknown;
}

export type ModelFailureKind = 'unavailable' | 'interrupted';

// One model call as every feature makes it (AI sessions, `@ai` in rooms): the provider behind its
// retries and circuit breaker (resilientStream), metrics for the first token, retries and circuit,
// and failure events. The callers decide where the deltas go and how the reply is stored; the
// accounting of how it ended (failed, settled) is here too, so both count the same way.
@Injectable()
export class ModelStream {
  constructor(
    private readonly metrics: ChatMetrics,
    private readonly events: LlmEvents,
  ) {}

  // Never throws: a failure is returned with the text so far.
  async run(
    entry: ModelEntry,
    request: LlmRequest,
    caller: ModelCaller,
    hooks: ModelStreamHooks,
  ): Promise<ModelStreamResult> {
    // stopped before it was asked (a user's stop, a takeover): no vendor sees it, nor bills it
    if (request.signal.aborted) return { text: '', responseMs: 0, failure: undefined };
    const labels = labelsOf(entry);
    const started = performance.now();
    let firstTokenMs: number | undefined;
    let usage: LlmUsage | undefined;
    let text = '';
    let files = 0;
    let failure: unknown;
    const firstToken = (): void => {
      if (firstTokenMs !== undefined) return;
      firstTokenMs = performance.now() - started;
      this.metrics.llmFirstToken.observe(labels, firstTokenMs / 1000);
    };
    const onChunk = (chunk: LlmChunk): void => {
      if (chunk.type === 'delta') {
        if (chunk.text.length === 0) return;
        firstToken();
        const offset = text.length;
        text += chunk.text;
        hooks.onDelta(chunk.text, offset);
      } else if (chunk.type === 'replace') {
        if (chunk.text.length > 0) firstToken();
        text = chunk.text;
        hooks.onReplace?.(chunk.text);
      } else if (chunk.type === 'usage') {
        usage = chunk.usage;
      } else if (chunk.type === 'state') {
        hooks.onState?.(chunk.providerState);
      } else {
        files++;
        hooks.onFile?.({ url: chunk.url, kind: chunk.kind });
      }
    };
    try {
      await resilientStream(entry.provider, request, entry.policy, entry.breaker, onChunk, {
        onRetry: ({ attempt, attempts, delayMs, error }) => {
          this.metrics.llmRetries.inc(labels);
          this.events.failure({ ...this.about(entry, caller), kind: 'retry', error: error.message, attempt });
          hooks.onRetry?.({ attempt, attempts, delayMs });
        },
        onFailure: ({ opened, error }) => {
          if (!opened) return;
          this.metrics.llmCircuitOpen.set(labels, 1);
          this.events.failure({ ...this.about(entry, caller), kind: 'circuit_open', error: error.message });
        },
      });
      this.metrics.llmCircuitOpen.set(labels, 0);
      // a reply that ended as the vendor ends one, with nothing in it (a content filter, a refusal
      // that says nothing), is no answer: the user is told to try again, as when nothing came, and
      // the vendor is not asked again, nor blamed (docs/protocol.md, "Vendor streams end with the
      // vendor's end"). One the user stopped before its first word is theirs to end.
      if (text.length === 0 && files === 0 && !request.signal.aborted)
        failure = new LlmProviderError(`${entry.provider.vendor}: empty reply`, false);
    } catch (error) {
      failure = error;
    }
    return { text, usage, responseMs: Math.round(performance.now() - started), firstTokenMs, failure };
  }

  // The model failed (not a stop): counted, and an event (an admin alert) unless the circuit was
  // open, which was announced when it opened. `unavailable` when nothing came, else `interrupted`.
  failed(entry: ModelEntry, caller: ModelCaller, failure: unknown, textLength: number): ModelFailureKind {
    const kind: ModelFailureKind = textLength === 0 ? 'unavailable' : 'interrupted';
    this.metrics.llmRequests.inc({ ...labelsOf(entry), outcome: kind });
    this.metrics.errors.inc({ code: ErrorCode.LLM_UNAVAILABLE });
    if (!(failure instanceof CircuitOpenError))
      this.events.failure({ ...this.about(entry, caller), kind, error: describeError(failure) });
    return kind;
  }

  // A reply was stored: its outcome (when the model did not fail), time and tokens are counted.
  settled(
    entry: ModelEntry,
    reply: { usage: LlmUsage; responseMs: number; outcome?: 'ok' | 'stopped' },
  ): void {
    const labels = labelsOf(entry);
    if (reply.outcome) this.metrics.llmRequests.inc({ ...labels, outcome: reply.outcome });
    this.metrics.llmResponse.observe(labels, reply.responseMs / 1000);
    this.metrics.llmTokens.inc({ ...labels, kind: 'prompt' }, reply.usage.prompt_tokens);
    this.metrics.llmTokens.inc({ ...labels, kind: 'completion' }, reply.usage.completion_tokens);
  }

  retryAfterOf(failure: unknown): number | undefined {
    return failure instanceof LlmProviderError ? failure.retryAfterMs : undefined;
  }

  private about(entry: ModelEntry, caller: ModelCaller) {
    return { modelId: entry.settings.id, vendor: entry.provider.vendor, ...caller };
  }
}

export function labelsOf(entry: ModelEntry): { provider: string; model: string } {
  return { provider: entry.provider.vendor, model: entry.settings.id };
}

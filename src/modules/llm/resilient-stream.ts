import { setTimeout as sleep } from 'node:timers/promises';
import {
  isAbort,
  type LlmChunk,
  type LlmProvider,
  LlmProviderError,
  type LlmRequest,
} from '../../infra/llm/llm-provider';
import type { CircuitBreaker } from './circuit-breaker';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  // longest pause between attempts; a retry-after beyond it means "give up now"
  maxDelayMs: number;
  // no chunk for this long (the first included) fails the attempt
  idleTimeoutMs: number;
  // the longest a reply may take, every attempt and pause included (LLM_REPLY_TIMEOUT); unset, none
  replyTimeoutMs?: number;
}

export interface StreamObserver {
  // an attempt failed before the first token and another follows after `delayMs`
  onRetry?(info: { attempt: number; attempts: number; delayMs: number; error: LlmProviderError }): void;
  // every attempt failure, also the last one
  onFailure?(info: { attempt: number; error: LlmProviderError; started: boolean; opened: boolean }): void;
}

// The circuit is open: the provider is not even asked.
export class CircuitOpenError extends LlmProviderError {
  constructor(retryAfterMs: number) {
    super('circuit open', false, retryAfterMs);
    this.name = 'CircuitOpenError';
  }
}

const TIMEOUT = Symbol('idle-timeout');
const REPLY_TIMEOUT = Symbol('reply-timeout');

// Full jitter: a random pause in [0, base·2^(attempt-1)], so clients hit by the same outage spread out.
export function backoffMs(attempt: number, baseMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

// A provider stream with retries before the first token (backoff + jitter, honouring retry-after),
// an idle timeout on every attempt, a bound on the whole reply's time (a vendor that never stops
// held its session's reply, and every turn after it, until the user stopped it: docs/protocol.md,
// "Vendor streams end with the vendor's end"), and a circuit breaker. After the first token nothing is ever
// replayed: the failure goes to the caller, who keeps the partial text. Each chunk is handed to
// `onChunk` as it comes (no async generator of its own: one layer fewer of promises and iterator
// results per chunk; it did not move the CPU per turn, bench/README.md, "Session 19"). Resolves
// when the reply ended or the request's signal aborted it; rejects with the failure otherwise. A
// throw from `onChunk` closes the attempt and comes back as it is, not counted against the provider.
export async function resilientStream(
  provider: LlmProvider,
  request: LlmRequest,
  policy: RetryPolicy,
  breaker: CircuitBreaker,
  onChunk: (chunk: LlmChunk) => void,
  observer: StreamObserver = {},
): Promise<void> {
  const deadline = policy.replyTimeoutMs === undefined ? undefined : Date.now() + policy.replyTimeoutMs;
  // vendor state an attempt learned (Dify's conversation, made and named before its error event)
  // goes on to the next attempt: until a vendors audit in session 40 a retried first turn made a
  // second conversation, the session kept only its id, and the first, holding the user's words,
  // was never deleted by the purge (test/e2e/dify-retry.e2e-spec.ts)
  let providerState = request.providerState;
  for (let attempt = 1; ; attempt++) {
    const wait = breaker.acquire();
    if (wait > 0) throw new CircuitOpenError(wait);
    const attemptController = new AbortController();
    const forward = (): void => attemptController.abort(request.signal.reason);
    request.signal.addEventListener('abort', forward, { once: true });
    // one timer per attempt, restarted by refresh() (no timer object per token) when a chunk comes
    const timer = setTimeout(() => attemptController.abort(TIMEOUT), policy.idleTimeoutMs);
    // and one for what is left of the reply's time, never restarted
    const replyTimer =
      deadline === undefined
        ? undefined
        : setTimeout(() => attemptController.abort(REPLY_TIMEOUT), Math.max(0, deadline - Date.now()));
    let started = false;
    let settled = false;
    let consumerFailed = false;
    // files an attempt announced before its first token wait for it (or for its end): a retried
    // attempt's go with it. Until a vendors audit in session 40 they stayed, two files for one
    // answer, and an empty retried answer counted as a reply because of one (dify-retry.e2e-spec.ts)
    let held: LlmChunk[] = [];
    const deliver = (chunk: LlmChunk): void => {
      try {
        onChunk(chunk);
      } catch (error) {
        consumerFailed = true;
        throw error;
      }
    };
    const release = (): void => {
      const files = held;
      held = [];
      for (const file of files) deliver(file);
    };
    try {
      const attemptRequest: LlmRequest = {
        ...request,
        providerState,
        signal: attemptController.signal,
        // any bytes from the vendor, a keep-alive ping too, restart the idle timer: until a vendors
        // audit in session 40 only text did, and a vendor pinging while it thought was dropped as
        // dead, asked again (billed again) and the user told LLM_UNAVAILABLE (vendor-keepalive.e2e-spec.ts)
        onData: () => timer.refresh(),
      };
      for await (const chunk of provider.stream(attemptRequest)) {
        timer.refresh();
        if (chunk.type === 'state') providerState = { ...providerState, ...chunk.providerState };
        if (!started && chunk.type === 'file') {
          held.push(chunk);
          continue;
        }
        if ((chunk.type === 'delta' || chunk.type === 'replace') && chunk.text.length > 0 && !started) {
          started = true;
          release();
        }
        deliver(chunk);
      }
      // the SDKs end a stream quietly when its signal aborts: a user stop, or one of our timeouts
      // (named below, by the abort's reason)
      if (request.signal.aborted) return;
      if (attemptController.signal.aborted) throw new LlmProviderError('aborted by timeout', true);
      release();
      settled = true;
      breaker.success();
      return;
    } catch (caught) {
      if (request.signal.aborted || consumerFailed) throw caught;
      const error = asProviderError(caught, attemptController.signal.reason, provider.vendor);
      settled = true;
      // only failures that say "the provider is down" count; a refused request (400) does not
      let opened = false;
      if (error.retryable) opened = breaker.failure();
      else breaker.release();
      observer.onFailure?.({ attempt, error, started, opened });
      if (started || !error.retryable || attempt >= policy.attempts) throw error;
      if (error.retryAfterMs !== undefined && error.retryAfterMs > policy.maxDelayMs) throw error;
      const delayMs = error.retryAfterMs ?? backoffMs(attempt, policy.baseMs, policy.maxDelayMs);
      // the pause would end past the reply's time: give up now
      if (deadline !== undefined && Date.now() + delayMs >= deadline) throw error;
      observer.onRetry?.({ attempt, attempts: policy.attempts, delayMs, error });
      await sleep(delayMs, undefined, { signal: request.signal });
    } finally {
      clearTimeout(timer);
      clearTimeout(replyTimer);
      request.signal.removeEventListener('abort', forward);
      // the consumer failed or the user aborted: close the vendor connection, free the trial
      if (!settled) {
        attemptController.abort();
        breaker.release();
      }
    }
  }
}

// `abortReason`: why the attempt's signal aborted, when one of our timers did it
function asProviderError(error: unknown, abortReason: unknown, vendor: string): LlmProviderError {
  if (abortReason === TIMEOUT) return new LlmProviderError(`${vendor}: no data within the timeout`, true);
  // not the vendor being down (a model that loops, a reply longer than allowed): the breaker does not
  // count it, and no time is left to retry in
  if (abortReason === REPLY_TIMEOUT)
    return new LlmProviderError(`${vendor}: reply longer than the reply timeout`, false);
  if (error instanceof LlmProviderError) return error;
  // a vendor aborting on its own (not us) is a lost connection
  if (isAbort(error)) return new LlmProviderError(`${vendor}: connection aborted`, true);
  return new LlmProviderError(`${vendor}: ${error instanceof Error ? error.name : 'failure'}`, false);
}

import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { KeyedMutex } from '../../common/keyed-mutex';
import { estimateTokens, type LlmMessage, type LlmUsage } from '../../infra/llm/llm-provider';
import { LlmRegistry } from '../llm/llm.registry';
import { ChatMetrics } from '../metrics/chat-metrics';
import type { MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { ClientHub } from './client-hub';
import { storedFrame, type ServerFrame } from './frames';

export interface Generation {
  sessionId: string;
  replyId: string;
  clientId?: string;
  modelId: string;
  text: string;
  controller: AbortController;
  done: Promise<void>;
}

type StopReason = 'stopped' | 'new_session' | 'shutdown';

// Streams an LLM reply to every device of the session and stores it once complete. Generation is
// independent of sockets: if every device drops, the reply is still stored and replayed later.
@Injectable()
export class ReplyService {
  private readonly logger = new Logger('llm');
  private readonly queue = new KeyedMutex();
  private readonly running = new Map<string, Generation>();

  constructor(
    private readonly sessions: SessionsService,
    private readonly registry: LlmRegistry,
    private readonly hub: ClientHub,
    private readonly metrics: ChatMetrics,
  ) {}

  inFlight(sessionId: string): Generation | undefined {
    return this.running.get(sessionId);
  }

  get activeCount(): number {
    return this.running.size;
  }

  // Replies run one at a time per session, in the order their messages were stored.
  request(input: {
    sessionId: string;
    userId: string;
    modelId: string;
    clientId?: string;
    afterSeq: number;
  }): void {
    void this.queue.run(input.sessionId, () => this.generate(input));
  }

  stop(sessionId: string, reason: StopReason = 'stopped'): boolean {
    const generation = this.running.get(sessionId);
    if (!generation) return false;
    generation.controller.abort(reason);
    return true;
  }

  async stopAll(reason: StopReason): Promise<void> {
    const all = [...this.running.values()];
    for (const generation of all) generation.controller.abort(reason);
    await Promise.all(all.map((generation) => generation.done));
  }

  async drain(timeoutMs: number): Promise<void> {
    const all = [...this.running.values()].map((generation) => generation.done);
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  private async generate(input: {
    sessionId: string;
    userId: string;
    modelId: string;
    clientId?: string;
  }): Promise<void> {
    const { sessionId, userId, modelId, clientId } = input;
    const provider = this.registry.get(modelId);
    const history = await this.sessions.messagesAfter(sessionId, userId, 0);
    const messages = toLlmMessages(history);
    let finish!: () => void;
    const generation: Generation = {
      sessionId,
      replyId: randomUUID(),
      clientId,
      modelId,
      text: '',
      controller: new AbortController(),
      done: new Promise<void>((resolve) => (finish = resolve)),
    };
    this.running.set(sessionId, generation);
    const log = { user_id: userId, session_id: sessionId, model: modelId, reply_id: generation.replyId };
    this.logger.log({ ...log, event: 'llm_request' }, 'llm request');
    const started = performance.now();
    let firstTokenMs: number | undefined;
    let usage: LlmUsage | undefined;
    let failure: unknown;
    this.ephemeral(sessionId, { type: 'loading', client_id: clientId, metadata: { loading: true } });
    try {
      for await (const chunk of provider.stream({ messages, signal: generation.controller.signal, userId })) {
        if (chunk.type === 'delta') {
          if (chunk.text.length === 0) continue;
          if (firstTokenMs === undefined) {
            firstTokenMs = performance.now() - started;
            this.metrics.llmFirstToken.observe({ model: modelId }, firstTokenMs / 1000);
          }
          const offset = generation.text.length;
          generation.text += chunk.text;
          this.ephemeral(sessionId, {
            type: 'ai_response',
            id: generation.replyId,
            client_id: clientId,
            sender: 'ai',
            model_id: modelId,
            metadata: { delta: chunk.text, offset, done: false },
          });
        } else if (chunk.type === 'usage') {
          usage = chunk.usage;
        }
      }
    } catch (error) {
      failure = error;
    }
    const responseMs = Math.round(performance.now() - started);
    const reason = generation.controller.signal.aborted
      ? (generation.controller.signal.reason as StopReason)
      : undefined;
    try {
      await this.finish({
        generation,
        userId,
        history: messages,
        usage,
        responseMs,
        firstTokenMs,
        failure,
        reason,
      });
    } finally {
      this.running.delete(sessionId);
      this.ephemeral(sessionId, { type: 'loading', client_id: clientId, metadata: { loading: false } });
      finish();
    }
  }

  private async finish(input: {
    generation: Generation;
    userId: string;
    history: LlmMessage[];
    usage?: LlmUsage;
    responseMs: number;
    firstTokenMs?: number;
    failure: unknown;
    reason?: StopReason;
  }): Promise<void> {
    const { generation, failure, reason, responseMs } = input;
    const { sessionId, modelId, clientId, text } = generation;
    const log = {
      user_id: input.userId,
      session_id: sessionId,
      model: modelId,
      reply_id: generation.replyId,
    };
    if (failure && !reason) {
      this.logger.warn({ ...log, event: 'llm_error', err: describe(failure) }, 'llm failed');
      this.metrics.errors.inc({ code: ErrorCode.LLM_UNAVAILABLE });
      this.ephemeral(sessionId, {
        type: 'error',
        client_id: clientId,
        error: {
          code: ErrorCode.LLM_UNAVAILABLE,
          message: 'The assistant is unavailable right now; please try again.',
          recoverable: true,
        },
      });
    }
    // nothing to keep: a failure or a stop before the first token
    if (text.length === 0 && (failure || reason)) return;
    const usage = input.usage ?? estimateUsage(input.history, text);
    const metadata: Record<string, unknown> = { usage, response_ms: responseMs };
    if (input.firstTokenMs !== undefined) metadata.first_token_ms = Math.round(input.firstTokenMs);
    if (reason === 'stopped' || reason === 'new_session') metadata.stopped = true;
    if (reason === 'shutdown' || (failure && !reason)) metadata.interrupted = true;
    let stored: MessageRecord;
    try {
      ({ message: stored } = await this.sessions.append(
        sessionId,
        {
          id: generation.replyId,
          type: 'ai_response',
          sender: 'ai',
          client_id: clientId,
          content: text,
          timestamp: new Date(),
          model_id: modelId,
          metadata,
        },
        { usage, response_ms: responseMs, countsAsMessage: true },
      ));
    } catch (error) {
      this.logger.error(
        { ...log, event: 'reply_store_failed', err: describe(error) },
        'could not store reply',
      );
      const code = error instanceof DomainException ? error.code : ErrorCode.INTERNAL;
      this.ephemeral(sessionId, {
        type: 'error',
        client_id: clientId,
        error: { code, message: 'The reply could not be saved.', recoverable: true },
      });
      return;
    }
    this.metrics.llmResponse.observe({ model: modelId }, responseMs / 1000);
    this.metrics.llmTokens.inc({ model: modelId, kind: 'prompt' }, usage.prompt_tokens);
    this.metrics.llmTokens.inc({ model: modelId, kind: 'completion' }, usage.completion_tokens);
    this.metrics.messagesOut.inc({ type: 'ai_response' });
    this.logger.log(
      {
        ...log,
        event: 'llm_reply',
        response_ms: responseMs,
        tokens: usage.total_tokens,
        stopped: reason ?? null,
      },
      'llm reply stored',
    );
    this.hub.toSession(sessionId, storedFrame(sessionId, stored));
  }

  private ephemeral(sessionId: string, frame: ServerFrame): void {
    this.hub.toSession(sessionId, { ...frame, session_id: sessionId, seq: this.sessions.lastSeq(sessionId) });
  }
}

// History as LLM context: user turns and the assistant's replies (admin replies count as assistant).
export function toLlmMessages(history: MessageRecord[]): LlmMessage[] {
  const messages: LlmMessage[] = [];
  for (const message of history) {
    if (!message.content) continue;
    if (message.type !== 'user_message' && message.type !== 'ai_response') continue;
    messages.push({ role: message.sender === 'user' ? 'user' : 'assistant', content: message.content });
  }
  return messages;
}

function estimateUsage(history: LlmMessage[], reply: string): LlmUsage {
  const prompt = history.reduce((sum, message) => sum + estimateTokens(message.content), 0);
  const completion = estimateTokens(reply);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { LlmModelSettings } from '../../config/settings';
import type { LlmChunk, LlmProvider, LlmRequest } from './llm-provider';
import { estimateUsage } from './tokens';

const DEFAULT_DELAY_MS = 40;

// Offline model: a deterministic reply streamed word by word at a human reading pace.
export class DemoProvider implements LlmProvider {
  readonly modelId: string;
  readonly vendor = 'demo';
  private readonly delayMs: number;

  constructor(model: LlmModelSettings) {
    this.modelId = model.id;
    this.delayMs = model.delay_ms ?? DEFAULT_DELAY_MS;
  }

  async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
    const reply = demoReply(request);
    const pieces = reply.match(/\S+\s*/g) ?? [reply];
    for (const piece of pieces) {
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: request.signal });
      request.signal.throwIfAborted();
      yield { type: 'delta', text: piece };
    }
    yield { type: 'usage', usage: estimateUsage(request.messages, reply) };
  }
}

export function demoReply(request: Pick<LlmRequest, 'messages'>): string {
  const users = request.messages.filter((message) => message.role === 'user');
  const last = users.at(-1)?.content.trim() ?? '';
  const quoted = last.length > 200 ? `${last.slice(0, 200)}…` : last;
  // the demo cannot look at pictures or PDFs; it only counts the ones it was given
  const newest = users.at(-1);
  const given = [
    counted(newest?.images?.length ?? 0, 'image'),
    counted(newest?.documents?.length ?? 0, 'document'),
  ].filter((part) => part !== '');
  const shown = given.length > 0 ? ` with ${given.join(' and ')}` : '';
  return (
    `This is the offline demo model. You said: "${quoted}"${shown}. ` +
    `That is message ${users.length} of this conversation. ` +
    'Configure LLM_PROVIDERS to talk to a real model.'
  );
}

function counted(count: number, noun: string): string {
  return count === 0 ? '' : `${count} ${noun}${count === 1 ? '' : 's'}`;
}

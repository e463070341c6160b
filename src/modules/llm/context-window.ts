import { Injectable } from '@nestjs/common';
import type { LlmMessage } from '../../infra/llm/llm-provider';
import {
  attachmentTokens,
  countMessageTokens,
  countTokens,
  MESSAGE_OVERHEAD_TOKENS,
} from '../../infra/llm/tokens';

export const DEFAULT_CONTEXT_TOKENS = 16_000;
export const DEFAULT_REPLY_RESERVE_TOKENS = 1024;
const CACHE_LIMIT = 20_000;

// A history message; `key` (the stored message id) lets its token count be computed once, images
// and PDFs included (a turn's attachments are part of what the key names, see FileContextService).
export interface ContextMessage extends LlmMessage {
  key?: string;
  // the vendor's own count of the content (a reply's completion_tokens): no need to tokenize it
  tokens?: number;
}

export interface ContextBudget {
  contextTokens?: number;
  maxTokens?: number;
  systemPrompt?: string;
}

// Fits a conversation into the model's context: the newest messages are kept, older ones dropped,
// the system prompt (sent by the provider) always counts. Token counts of stored messages never
// change, so they are cached by message id and each message is tokenized at most once.
@Injectable()
export class ContextWindow {
  private readonly cache = new Map<string, number>();

  fit(history: ContextMessage[], budget: ContextBudget): LlmMessage[] {
    const available =
      (budget.contextTokens ?? DEFAULT_CONTEXT_TOKENS) -
      (budget.maxTokens ?? DEFAULT_REPLY_RESERVE_TOKENS) -
      (budget.systemPrompt ? countTokens(budget.systemPrompt) + MESSAGE_OVERHEAD_TOKENS : 0);
    // fast path: a byte-level BPE token is at least one UTF-8 byte, so bytes bound the tokens
    let bytes = 0;
    for (const message of history)
      bytes += Buffer.byteLength(message.content) + MESSAGE_OVERHEAD_TOKENS + attachmentTokens(message);
    if (bytes <= available) return history.map(plain);
    const kept: LlmMessage[] = [];
    let used = 0;
    for (let index = history.length - 1; index >= 0; index--) {
      const tokens = this.tokensOf(history[index]);
      // the newest message always goes, even alone over budget: the vendor then says so clearly
      if (kept.length > 0 && used + tokens > available) break;
      used += tokens;
      kept.push(plain(history[index]));
    }
    return kept.reverse();
  }

  private tokensOf(message: ContextMessage): number {
    if (message.tokens !== undefined)
      return message.tokens + MESSAGE_OVERHEAD_TOKENS + attachmentTokens(message);
    if (message.key === undefined) return countMessageTokens(message);
    const known = this.cache.get(message.key);
    if (known !== undefined) return known;
    const tokens = countMessageTokens(message);
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(message.key, tokens);
    return tokens;
  }
}

function plain(message: ContextMessage): LlmMessage {
  const kept: LlmMessage = { role: message.role, content: message.content };
  if (message.images?.length) kept.images = message.images;
  if (message.documents?.length) kept.documents = message.documents;
  return kept;
}

import { Tiktoken } from 'js-tiktoken/lite';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import type { LlmMessage, LlmUsage } from './llm-provider';

// Token estimates for providers that report none (demo, replies cut short) and for fitting history
// into a model's context. cl100k_base: a third of o200k's start-up cost (~0.5 s vs ~1.6 s, once per
// process) and close enough for an estimate; vendors' own counts win whenever they send them.
let encoder: Tiktoken | undefined;

// Builds the tables now (a synchronous ~0.5 s) so the first reply does not pay for it mid-traffic.
export function warmTokenizer(): void {
  encoder ??= new Tiktoken(cl100kBase);
}

export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  warmTokenizer();
  // special-token look-alikes in user text ("<|endoftext|>") are plain text here, never an error
  return (encoder as Tiktoken).encode(text, [], []).length;
}

// Chat formats add a few tokens per message for role markers.
export const MESSAGE_OVERHEAD_TOKENS = 4;

export function countMessageTokens(message: LlmMessage): number {
  return countTokens(message.content) + MESSAGE_OVERHEAD_TOKENS;
}

export function estimateUsage(prompt: LlmMessage[], reply: string): LlmUsage {
  const promptTokens = prompt.reduce((sum, message) => sum + countMessageTokens(message), 0);
  const completionTokens = countTokens(reply);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

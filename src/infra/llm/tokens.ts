import cl100k from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import type { LlmMessage, LlmUsage } from './llm-provider';

// Token estimates for providers that report none (demo, replies cut short) and for fitting history
// into a model's context: cl100k_base, close enough for an estimate; vendors' own counts win
// whenever they send them. gpt-tokenizer, not js-tiktoken: the same counts, but js-tiktoken keeps
// its ranks as ~200,000 strings and byte arrays (32 MB of live heap that every full GC marks, a
// third of the server's heap) and counts ~15× slower; gpt-tokenizer's tables take 7.5 MB
// (bench/README.md, "The tokenizer's heap").

// its cache of merged pieces: bounded well below the library's 100,000 entries (the text of every
// conversation passes through here)
const MERGE_CACHE_ENTRIES = 5_000;
// special tokens in user text ("<|endoftext|>") are plain text here, never an error
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
let warmed = false;

// Loads the tables now (~0.15 s, once per process) so the first reply does not pay for it.
export function warmTokenizer(): void {
  if (warmed) return;
  warmed = true;
  cl100k.setMergeCacheSize(MERGE_CACHE_ENTRIES);
  cl100k.countTokens('warm', PLAIN_TEXT);
}

// BPE merging is quadratic in the length of one pre-tokenizer piece, and a run of letters (or of
// symbols) with no space is one piece: 4,000 letters in a row took 2.6 s of blocked event loop
// (js-tiktoken, cl100k; gpt-tokenizer's merge is quadratic too: 16,000 letters, 0.4 s). Runs longer
// than LONG_RUN characters are counted in slices of SLICE code points: linear time, at most one token
// off the exact count per cut (between two slices, and where the run meets the text on each side; 0
// for "abcd"×1000).
const LONG_RUN = /\S{65,}/gu;
const SLICE = /[\s\S]{1,32}/gu;

export function countTokens(text: string): number {
  if (text.length === 0) return 0;
  let total = 0;
  let from = 0;
  for (const run of text.matchAll(LONG_RUN)) {
    total += encodedLength(text.slice(from, run.index));
    for (const [slice] of run[0].matchAll(SLICE)) total += encodedLength(slice);
    from = run.index + run[0].length;
  }
  return total + encodedLength(from === 0 ? text : text.slice(from));
}

function encodedLength(text: string): number {
  if (text.length === 0) return 0;
  warmTokenizer();
  return cl100k.countTokens(text, PLAIN_TEXT);
}

// The exact count, whatever it costs (tests compare countTokens with it).
export function exactTokenCount(text: string): number {
  return encodedLength(text);
}

// Chat formats add a few tokens per message for role markers.
export const MESSAGE_OVERHEAD_TOKENS = 4;

// What one attached image costs, at most, whatever its size: both vendors scale images down before
// counting. Anthropic charges width × height / 750 after fitting to ~1.15 megapixels (≤ ~1,600);
// OpenAI's high detail charges 85 + 170 per 512-px tile after fitting into 2048 and 768 px (≤ 1,445
// for 768 × 2048; 765 for the usual 1024 × 1024). The bound, not the typical 765: a history that
// under-counts its images overflows the model's context, one that over-counts only drops older turns.
export const IMAGE_TOKENS = 1_600;
// What one page of an attached PDF costs, at most: both vendors read its text and a picture of it,
// and Anthropic puts a page at 1,500 to 3,000 tokens by how dense its text is. The bound, as for images.
export const DOCUMENT_PAGE_TOKENS = 3_000;

export function countMessageTokens(message: LlmMessage): number {
  return countTokens(message.content) + MESSAGE_OVERHEAD_TOKENS + attachmentTokens(message);
}

// The images and PDF pages of a message, counted apart from its text.
export function attachmentTokens(message: LlmMessage): number {
  let pages = 0;
  for (const document of message.documents ?? []) pages += document.pages;
  return (message.images?.length ?? 0) * IMAGE_TOKENS + pages * DOCUMENT_PAGE_TOKENS;
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

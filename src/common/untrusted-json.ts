// Untrusted JSON (WebSocket frames, REST bodies) is checked here before any object mapping touches
// it (docs/protocol.md, "Input limits"). class-transformer walks nested objects recursively and reads
// `value.constructor`: a key named `constructor` or a value nested 10,000 levels deep made it throw
// out of a socket handler and stop the process. This check is iterative, so no input can overflow
// the stack, and it refuses the keys object mappers treat specially, and text that is not whole
// Unicode: a lone surrogate (JSON's `\uD800`) would be stored as U+FFFD, so what was acked is not
// what is read (until the attacker audit a chat message with one was acked and stored so).
import { wholeTextProblem } from './display-text';

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonLimits {
  // levels below the top value: the envelope's fields are at depth 1, their members at depth 2
  maxDepth: number;
  // object keys plus array elements, counted over the whole value
  maxEntries: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 32, maxEntries: 4096 };

const LONE_SURROGATE_PROBLEM = 'Text must be well-formed Unicode (a lone surrogate is half a character).';

// Why a parsed value may not be used, or undefined when it may. Never throws.
export function untrustedJsonProblem(
  value: unknown,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): string | undefined {
  const stack: Array<{ item: unknown; depth: number }> = [{ item: value, depth: 0 }];
  let entries = 0;
  while (stack.length > 0) {
    const { item, depth } = stack.pop()!;
    if (typeof item === 'string' && wholeTextProblem(item) !== undefined) return LONE_SURROGATE_PROBLEM;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limits.maxDepth) return `Values may be nested at most ${limits.maxDepth} levels deep.`;
    if (Array.isArray(item)) {
      entries += item.length;
      if (entries > limits.maxEntries) return `At most ${limits.maxEntries} keys and elements in all.`;
      for (const element of item as unknown[]) stack.push({ item: element, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(item)) {
      if (FORBIDDEN_KEYS.has(key)) return `Key "${key}" is not allowed.`;
      if (wholeTextProblem(key) !== undefined) return LONE_SURROGATE_PROBLEM;
      if (++entries > limits.maxEntries) return `At most ${limits.maxEntries} keys and elements in all.`;
      stack.push({ item: (item as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return undefined;
}

export type UntrustedJson = { ok: true; value: unknown } | { ok: false; reason: string };

// JSON.parse (V8's parser is iterative: deep input does not overflow it) followed by the check above.
export function parseUntrustedJson(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): UntrustedJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'Not valid JSON.' };
  }
  const problem = untrustedJsonProblem(value, limits);
  return problem === undefined ? { ok: true, value } : { ok: false, reason: problem };
}

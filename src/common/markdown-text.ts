// Markdown read as plain words, for what is spoken or named from a message or a model's answer.

// Markdown links and images read as their words: `[the docs](https://x/d)` and `![a chart](c.png)`
// become `the docs` and `a chart`. Link text holds no bracket and a target no parenthesis, so an
// attempt that fails stops at the next `[` or `(`: linear in the text. The usual pattern, with
// `[^\]]*` and `[^)]*`, scans to the end from every `[` of a text that never closes one (quadratic:
// 16,000 `[` in a model's reply took 78 ms to read aloud, 64,000 over a second). A link whose text
// holds brackets keeps its outer ones (`[a [b](u)` → `[a b`).
const LINK = /!?\[([^[\]]*)\]\([^()]*\)/g;

export function linkWords(text: string): string {
  return text.replace(LINK, '$1');
}

// Markdown emphasis around text (**x**, __x__, *x*, _x_, `x`, ~~x~~): the marks go, the text stays.
// A mark that pairs with nothing is text (`__xss`, `snake_case`) and is kept. The pattern is
// quadratic in an input of unpaired marks (each one scans to the end for its pair): its callers
// read a bounded beginning of what they are given (a session's name, a title).
export function withoutEmphasis(text: string): string {
  return text.replace(/(?<![\w*~`])(\*\*|__|~~|\*|_|`)(?=\S)([^]*?\S)\1(?![\w*~`])/g, '$2');
}

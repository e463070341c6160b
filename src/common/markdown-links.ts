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

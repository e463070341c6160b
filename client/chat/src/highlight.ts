// Syntax highlighting of code blocks, loaded only when a reply has one (a chunk of its own, outside
// the first load's budget: test/browser/bundle-size.browser-spec.ts).
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';

const LANGUAGES = { bash, css, javascript, json, python, sql, typescript, xml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.registerAliases(['js', 'jsx'], { languageName: 'javascript' });
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['sh', 'shell', 'zsh'], { languageName: 'bash' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['py'], { languageName: 'python' });

// Highlights the code blocks under `root` once each. highlight.js escapes the text it wraps in
// spans, so the sanitised markup stays safe.
export function highlightWithin(root: HTMLElement): void {
  for (const code of root.querySelectorAll<HTMLElement>('pre code:not([data-highlighted])')) {
    const named = /language-([\w-]+)/.exec(code.className)?.[1];
    if (named && !hljs.getLanguage(named)) {
      code.dataset.highlighted = 'no';
      continue;
    }
    hljs.highlightElement(code);
  }
}

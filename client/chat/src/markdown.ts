import DOMPurify from 'dompurify';
import { Marked } from 'marked';

// AI (and admin) text as Markdown → HTML that DOMPurify has cleaned: no scripts, no event
// handlers, no inline HTML from the message survives; links open outside the chat frame.
const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  // raw HTML in a message is shown as text, never parsed
  renderer: { html: (token) => escapeHtml(token.text) },
});

const ALLOWED_TAGS = [
  'p',
  'br',
  'strong',
  'em',
  'del',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'a',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'span',
];

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
    if (signsIn(node.getAttribute('href'))) node.removeAttribute('href');
  }
});

// A link to this app that carries a sign-in token (#token= or ?token=, as the page reads it:
// token-bridge.ts) would open it signed in as whoever's token it is: an AI reply (or a room
// message) could sign the reader in to an attacker's account, where what they type next is the
// attacker's to read. Such a link is shown as its text only (a client audit in session 40).
function signsIn(href: string | null): boolean {
  if (!href) return false;
  try {
    const url = new URL(href, location.href);
    if (url.origin !== location.origin) return false;
    return url.searchParams.has('token') || new URLSearchParams(url.hash.slice(1)).has('token');
  } catch {
    return false;
  }
}

export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ['href', 'title', 'class', 'target', 'rel', 'start'],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  });
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

import { isRecord } from '../../shared/protocol';
import type { Attachment } from './chat-message';

// The files of a reply (metadata.attachments) as the thread shows them, and which are links at all.

export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// metadata.attachments: objects {kind, source, file_url, name, mime_type, size, external}, files the
// server did not keep {kind, source, dropped}, or bare URLs
export function parseAttachments(value: unknown): Attachment[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list = value.flatMap((entry: unknown): Attachment[] => {
    if (typeof entry === 'string')
      return isWebLink(entry) ? [{ url: entry, external: !isOwnPath(entry) }] : [];
    if (!isRecord(entry)) return [];
    const kind = stringOf(entry.kind);
    // refused by the uploads' checks: no link, only why
    if (typeof entry.dropped === 'string' && entry.file_url === undefined)
      return [{ dropped: entry.dropped, source: stringOf(entry.source), mimeType: kindType(kind) }];
    if (typeof entry.file_url !== 'string' || !isWebLink(entry.file_url)) return [];
    return [
      {
        url: entry.file_url,
        fileId: stringOf(entry.file_id),
        name: stringOf(entry.name),
        mimeType: stringOf(entry.mime_type) ?? kindType(kind),
        size: typeof entry.size === 'number' ? entry.size : undefined,
        // a link to another host is never read with the user's token, whatever the entry says
        external: entry.external === true || !isOwnPath(entry.file_url),
        source: stringOf(entry.source),
      },
    ];
  });
  return list.length > 0 ? list : undefined;
}

// A file is shown as a link only when it is one to a web page: our files' paths (relative, resolved
// as the page resolves them) and a vendor's http(s) links. A vendor's javascript: or data: URL (a
// Dify message_file) is no file of the reply: never an <a href>, whatever the CSP would stop.
function isWebLink(url: string): boolean {
  try {
    const { protocol } = new URL(url, 'http://page.invalid/');
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

// A path of this server (`/chat/files/…`), whose file is read with the user's token: one slash and
// a path, never `//host/…` or `/\\host/…`, which a browser resolves to another host.
function isOwnPath(url: string): boolean {
  return url.startsWith('/') && new URL(url, 'http://page.invalid/').host === 'page.invalid';
}

function kindType(kind: string | undefined): string | undefined {
  return kind === 'audio' ? 'audio/*' : kind === 'image' ? 'image/*' : undefined;
}

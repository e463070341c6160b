import { isUtf8 } from 'node:buffer';

// Pure rules about uploaded files (names, types, text), kept apart so they can be property-tested.
export const MAX_NAME_CHARS = 120;

// file-type reports a container's generic type; the same bytes are also known by these names.
// Only the container is trusted (magic bytes); the declared type can only pick among its aliases.
const ALIASES: Record<string, string[]> = {
  'video/webm': ['audio/webm', 'video/webm'],
  'audio/vnd.wave': ['audio/wav', 'audio/wave', 'audio/x-wav', 'audio/vnd.wave'],
  'audio/opus': ['audio/ogg', 'audio/opus'],
  'video/ogg': ['video/ogg', 'audio/ogg'],
  'audio/x-m4a': ['audio/mp4', 'audio/x-m4a', 'audio/m4a'],
  'video/mp4': ['video/mp4', 'audio/mp4'],
  'audio/mpeg': ['audio/mpeg', 'audio/mp3'],
  // audio/flac is the registered type (and OpenAI speech's label); file-type names it x-flac
  'audio/x-flac': ['audio/flac', 'audio/x-flac'],
};

// Extensions a name may keep for a type; the first is used when the name's own does not fit.
const EXTENSIONS: Record<string, string[]> = {
  'image/png': ['png'],
  'image/jpeg': ['jpg', 'jpeg', 'jfif'],
  'image/webp': ['webp'],
  'image/gif': ['gif'],
  'application/pdf': ['pdf'],
  'text/plain': ['txt', 'text', 'md', 'markdown', 'csv', 'tsv', 'log', 'json', 'yaml', 'yml', 'xml', 'ini'],
  'text/markdown': ['md', 'markdown'],
  'text/csv': ['csv'],
  'application/json': ['json'],
  'audio/webm': ['webm', 'weba'],
  'video/webm': ['webm'],
  'audio/ogg': ['ogg', 'oga', 'opus'],
  'audio/mpeg': ['mp3'],
  'audio/wav': ['wav'],
  'audio/mp4': ['m4a', 'mp4'],
  'video/mp4': ['mp4', 'm4v'],
  'audio/flac': ['flac'],
};

// Types a browser may render in place; everything else downloads (and is sandboxed either way). Not
// PDF: Chrome does not run its PDF viewer in a sandboxed document (/chat/blob's CSP `sandbox`), so
// one shown inline was a blocked page; as a download it opens in the browser's viewer or the
// system's (docs/protocol.md, "Uploads and files").
const INLINE_TYPES = /^(image\/(png|jpeg|gif|webp)|audio\/[a-z0-9.+-]+|video\/(webm|mp4|ogg)|text\/plain)$/;

export function normalizeMimeType(declared: string | undefined): string | undefined {
  const type = declared?.split(';')[0].trim().toLowerCase();
  return type && /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(type) ? type : undefined;
}

// The type a file is stored under, from its content: `detected` is file-type's answer (undefined when
// the magic bytes are unknown), `isText` whether the bytes are plain UTF-8 text. undefined = refuse.
export function resolveMimeType(input: {
  detected: string | undefined;
  isText: boolean;
  declared: string | undefined;
  allowed: readonly string[];
}): string | undefined {
  const declared = normalizeMimeType(input.declared);
  let candidates: string[];
  if (input.detected) candidates = ALIASES[input.detected] ?? [input.detected];
  else if (input.isText)
    candidates =
      declared &&
      (declared.startsWith('text/') || declared === 'application/json') &&
      declared !== 'text/html'
        ? [declared, 'text/plain']
        : ['text/plain'];
  else candidates = ['application/octet-stream'];
  const allowed = candidates.filter((candidate) => input.allowed.includes(candidate));
  if (allowed.length === 0) return undefined;
  return declared && allowed.includes(declared) ? declared : allowed[0];
}

// Bytes that are not in printable text: C0 controls except tab, line feed, vertical tab, form feed,
// carriage return and ESC; and DEL.
const CONTROL_BYTE = new Uint8Array(256);
for (let byte = 0; byte < 0x20; byte++) CONTROL_BYTE[byte] = 1;
for (const allowed of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1b]) CONTROL_BYTE[allowed] = 0;
CONTROL_BYTE[0x7f] = 1;

// Checks text incrementally as the upload streams: every chunk must continue valid UTF-8 without
// control bytes. Works on bytes (no strings), so a large text file costs no garbage.
export class TextCheck {
  private carry: Uint8Array = new Uint8Array(0);
  private valid = true;

  push(chunk: Uint8Array): boolean {
    if (!this.valid) return false;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    for (let index = 0; index < data.length; index++) {
      if (CONTROL_BYTE[data[index]] === 1) return (this.valid = false);
    }
    // a character cut by the chunk boundary is checked with the next chunk
    const cut = completeLength(data);
    this.carry = data.slice(cut);
    this.valid = isUtf8(data.subarray(0, cut));
    return this.valid;
  }

  // false when the file ends inside a multi-byte character
  end(): boolean {
    if (this.valid && this.carry.length > 0) this.valid = false;
    return this.valid;
  }
}

// Length of the prefix that does not end inside a multi-byte UTF-8 sequence.
function completeLength(data: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, data.length); back++) {
    const byte = data[data.length - back];
    if ((byte & 0xc0) === 0x80) continue;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? data.length - back : data.length;
  }
  return data.length;
}

// Whether the first bytes of a file read as text (a character cut at the end of the head is fine).
export function looksLikeText(head: Uint8Array): boolean {
  return new TextCheck().push(head);
}

const INVISIBLE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
const RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

// A display name that is safe anywhere: no path, no control or bidi characters, no characters
// Windows forbids, no leading dot, bounded length. The stored object's key never uses it.
export function sanitizeFileName(raw: string | undefined): string {
  let name = (raw ?? '').normalize('NFC');
  name = name.split(/[\\/]/).pop() ?? '';
  name = name.replace(INVISIBLE, '').replace(/[<>:"|?*]/g, '_');
  name = name.replace(/\s+/g, ' ');
  name = withoutTrailingDots(name.replace(/^[\s.]+/, ''));
  if (RESERVED.test(name)) name = `_${name}`;
  const characters = [...name];
  if (characters.length > MAX_NAME_CHARS) {
    const dot = name.lastIndexOf('.');
    const extension = dot > 0 ? [...name.slice(dot)] : [];
    const keep = extension.length > 0 && extension.length <= 16 ? extension : [];
    name = [...characters.slice(0, MAX_NAME_CHARS - keep.length), ...keep].join('');
    name = withoutTrailingDots(name);
  }
  return name.length > 0 ? name : 'file';
}

// Trailing spaces and dots off, in one pass from the end: the pattern /[\s.]+$/ tries every start
// in a run of dots that does not end the name, and "a" + 16,000 dots + "x" (a multipart part's
// header holds 16 KiB) held the event loop 190 ms.
export function withoutTrailingDots(name: string): string {
  let end = name.length;
  while (end > 0 && (name[end - 1] === '.' || /\s/.test(name[end - 1]))) end--;
  return name.slice(0, end);
}

// The sanitised name with an extension that matches the stored type ("photo.pdf" holding a PNG
// becomes "photo.png"), so nothing downstream trusts a misleading extension.
export function displayName(raw: string | undefined, mimeType: string): string {
  const name = sanitizeFileName(raw);
  const extensions = EXTENSIONS[mimeType];
  if (!extensions) return name;
  const dot = name.lastIndexOf('.');
  const current = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  if (extensions.includes(current)) return name;
  const base = dot > 0 && /^[a-z0-9]{1,8}$/i.test(current) ? name.slice(0, dot) : name;
  return sanitizeFileName(`${[...base].slice(0, MAX_NAME_CHARS - 6).join('')}.${extensions[0]}`);
}

export function dispositionFor(mimeType: string): 'inline' | 'attachment' {
  return INLINE_TYPES.test(mimeType) ? 'inline' : 'attachment';
}

export function isTextType(mimeType: string): boolean {
  return mimeType.startsWith('text/') || mimeType === 'application/json';
}

// a size as the quota and limit messages show it
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(1))} ${units[unit]}`;
}

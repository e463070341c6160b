import fc from 'fast-check';
import {
  displayName,
  dispositionFor,
  looksLikeText,
  MAX_NAME_CHARS,
  normalizeMimeType,
  resolveMimeType,
  sanitizeFileName,
  TextCheck,
  withoutTrailingDots,
} from './file-rules';

const ALLOWED = [
  'image/png',
  'image/jpeg',
  'application/pdf',
  'text/plain',
  'audio/webm',
  'audio/ogg',
  'audio/mpeg',
  'audio/wav',
  'audio/mp4',
];

// any string a client could send as a file name: unicode, paths, control and bidi characters
const anyName = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc
    .array(fc.constantFrom('..', '.', '/', '\\', 'a', 'é', ' ', '\u202e', '\u0000', 'con', '.png', '\n'), {
      maxLength: 40,
    })
    .map((parts) => parts.join('')),
);

describe('sanitizeFileName', () => {
  it('should cut a hostile run of dots to the bound and keep the extension', () => {
    // the part header of a multipart upload holds a name of up to 16 KiB
    expect(sanitizeFileName(`a${'.'.repeat(16_000)}x`)).toBe(`a${'.'.repeat(MAX_NAME_CHARS - 3)}.x`);
    expect(sanitizeFileName(`report${' .'.repeat(8_000)}`)).toBe('report');
    expect(sanitizeFileName(`${'. '.repeat(8_000)}`)).toBe('file');
  });

  it('should trim trailing spaces and dots as the pattern /[\\s.]+$/ does, when given any name', () => {
    const unit = fc.constantFrom('.', ' ', '\t', '\u3000', '\u2028', 'a', 'é', '😀');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 60 }), (raw) => {
        expect(withoutTrailingDots(raw)).toBe(raw.replace(/[\s.]+$/, ''));
      }),
      { numRuns: 500 },
    );
  });

  it('should return a safe non-empty name when given any string', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const name = sanitizeFileName(raw);
        expect(name.length).toBeGreaterThan(0);
        expect([...name].length).toBeLessThanOrEqual(MAX_NAME_CHARS);
        expect(name).not.toMatch(/[/\\<>:"|?*]/);
        // eslint-disable-next-line no-control-regex
        expect(name).not.toMatch(/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/);
        expect(name).not.toMatch(/^[.\s]|[.\s]$/);
        expect(name).not.toBe('..');
      }),
      { numRuns: 1000 },
    );
  });

  it('should be idempotent when applied twice', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const once = sanitizeFileName(raw);
        expect(sanitizeFileName(once)).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });

  it('should keep only the last path segment when the name carries a path', () => {
    expect(sanitizeFileName('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFileName('C:\\Users\\me\\photo.png')).toBe('photo.png');
    expect(sanitizeFileName('..')).toBe('file');
    expect(sanitizeFileName('/')).toBe('file');
    expect(sanitizeFileName(undefined)).toBe('file');
  });

  it('should drop bidi overrides and control characters when they could disguise the extension', () => {
    expect(sanitizeFileName('invoice\u202Egnp.exe')).toBe('invoicegnp.exe');
    expect(sanitizeFileName('a\u0000b\r\nc.txt')).toBe('abc.txt');
  });

  it('should prefix reserved device names when Windows would refuse them', () => {
    expect(sanitizeFileName('CON')).toBe('_CON');
    expect(sanitizeFileName('nul.txt')).toBe('_nul.txt');
  });

  it('should keep the extension when a long name is cut', () => {
    const name = sanitizeFileName(`${'x'.repeat(500)}.pdf`);
    expect(name.endsWith('.pdf')).toBe(true);
    expect([...name].length).toBe(MAX_NAME_CHARS);
  });
});

describe('displayName', () => {
  it('should give the name the extension of the type found in the content', () => {
    expect(displayName('photo.pdf', 'image/png')).toBe('photo.png');
    expect(displayName('photo.PNG', 'image/png')).toBe('photo.PNG');
    expect(displayName('picture', 'image/jpeg')).toBe('picture.jpg');
    expect(displayName('voice.weba', 'audio/webm')).toBe('voice.weba');
    expect(displayName('notes.md', 'text/plain')).toBe('notes.md');
    expect(displayName('archive.tar.gz', 'application/x-unknown')).toBe('archive.tar.gz');
  });

  it('should end with an extension of the type when the type is known', () => {
    fc.assert(
      fc.property(anyName, fc.constantFrom('image/png', 'application/pdf', 'audio/mpeg'), (raw, type) => {
        const name = displayName(raw, type);
        const extension = { 'image/png': '.png', 'application/pdf': '.pdf', 'audio/mpeg': '.mp3' }[type];
        expect(name.toLowerCase().endsWith(extension as string)).toBe(true);
        expect(sanitizeFileName(name)).toBe(name);
      }),
      { numRuns: 500 },
    );
  });
});

describe('resolveMimeType', () => {
  it('should trust the content over the declared type', () => {
    expect(
      resolveMimeType({
        detected: 'image/png',
        isText: false,
        declared: 'application/pdf',
        allowed: ALLOWED,
      }),
    ).toBe('image/png');
    expect(
      resolveMimeType({
        detected: 'application/x-elf',
        isText: false,
        declared: 'image/png',
        allowed: ALLOWED,
      }),
    ).toBeUndefined();
    expect(
      resolveMimeType({ detected: undefined, isText: false, declared: 'image/png', allowed: ALLOWED }),
    ).toBeUndefined();
  });

  it('should map the containers browsers record voice in to the audio types', () => {
    const resolve = (detected: string, declared?: string) =>
      resolveMimeType({ detected, isText: false, declared, allowed: ALLOWED });
    expect(resolve('video/webm', 'audio/webm;codecs=opus')).toBe('audio/webm');
    expect(resolve('video/webm')).toBe('audio/webm');
    expect(resolve('audio/opus', 'audio/ogg')).toBe('audio/ogg');
    expect(resolve('audio/ogg')).toBe('audio/ogg');
    expect(resolve('audio/vnd.wave', 'audio/x-wav')).toBe('audio/wav');
    expect(resolve('audio/x-m4a')).toBe('audio/mp4');
    expect(resolve('video/mp4', 'audio/mp4')).toBe('audio/mp4');
    expect(resolve('audio/mpeg', 'audio/mp3')).toBe('audio/mpeg');
  });

  // file-type names FLAC audio/x-flac; OpenAI speech with `format: flac` is labelled audio/flac, the
  // type an operator lists to allow it
  it('should know FLAC by the type it is allowed as', () => {
    const allowed = [...ALLOWED, 'audio/flac'];
    expect(
      resolveMimeType({ detected: 'audio/x-flac', isText: false, declared: 'audio/flac', allowed }),
    ).toBe('audio/flac');
    expect(resolveMimeType({ detected: 'audio/x-flac', isText: false, declared: undefined, allowed })).toBe(
      'audio/flac',
    );
    expect(displayName('reply.flac', 'audio/flac')).toBe('reply.flac');
  });

  it('should accept text as text/plain unless a more precise text type is declared and allowed', () => {
    const allowed = [...ALLOWED, 'text/markdown'];
    expect(resolveMimeType({ detected: undefined, isText: true, declared: undefined, allowed })).toBe(
      'text/plain',
    );
    expect(resolveMimeType({ detected: undefined, isText: true, declared: 'text/markdown', allowed })).toBe(
      'text/markdown',
    );
    expect(resolveMimeType({ detected: undefined, isText: true, declared: 'text/html', allowed })).toBe(
      'text/plain',
    );
    expect(resolveMimeType({ detected: undefined, isText: true, declared: 'image/svg+xml', allowed })).toBe(
      'text/plain',
    );
  });

  it('should only ever answer an allowed type, whatever the input', () => {
    const types = fc.constantFrom(
      undefined,
      'image/png',
      'video/webm',
      'audio/vnd.wave',
      'application/x-msdownload',
      'video/mp4',
      'text/html',
      'application/json',
    );
    fc.assert(
      fc.property(
        types,
        fc.boolean(),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        fc.subarray(ALLOWED),
        (detected, isText, declared, allowed) => {
          const type = resolveMimeType({ detected, isText, declared, allowed });
          if (type !== undefined) expect(allowed).toContain(type);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('normalizeMimeType', () => {
  it('should strip parameters and case, and refuse what is not a type', () => {
    expect(normalizeMimeType('Audio/WebM; codecs=opus')).toBe('audio/webm');
    expect(normalizeMimeType('nonsense')).toBeUndefined();
    expect(normalizeMimeType(undefined)).toBeUndefined();
  });
});

describe('TextCheck', () => {
  it('should accept any UTF-8 text without control characters, however it is split into chunks', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 200 }).map((value) =>
      // eslint-disable-next-line no-control-regex
      value.replace(/[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]/g, ''),
    );
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 5 }), (value, cuts) => {
        const bytes = Buffer.from(value, 'utf8');
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const check = new TextCheck();
        let start = 0;
        for (const point of [...points, bytes.length]) {
          expect(check.push(bytes.subarray(start, point))).toBe(true);
          start = point;
        }
        expect(check.end()).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('should agree with a whole-buffer UTF-8 decode on any bytes split anywhere', () => {
    // eslint-disable-next-line no-control-regex
    const control = /[\u0000-\u0008\u000e-\u001a\u001c-\u001f\u007f]/;
    const reference = (bytes: Uint8Array) => {
      try {
        return !control.test(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        return false;
      }
    };
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }).map((text) => new Uint8Array(Buffer.from(text))),
    );
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(), { maxLength: 6 }), (data, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b);
        const check = new TextCheck();
        let start = 0;
        let ok = true;
        for (const point of [...points, data.length]) {
          ok = check.push(data.subarray(start, point)) && ok;
          start = point;
        }
        expect(ok && check.end()).toBe(reference(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('should refuse binary content when it has NUL bytes or invalid UTF-8', () => {
    expect(looksLikeText(Buffer.from([0x41, 0x00, 0x42]))).toBe(false);
    expect(looksLikeText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
    expect(looksLikeText(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01]))).toBe(false);
    expect(looksLikeText(Buffer.from('hello\n\tworld\r\n', 'utf8'))).toBe(true);
  });

  it('should refuse text that ends inside a multi-byte character', () => {
    const check = new TextCheck();
    expect(check.push(Buffer.from([0x61, 0xe2, 0x82]))).toBe(true);
    expect(check.end()).toBe(false);
  });
});

describe('dispositionFor', () => {
  it('should render images, audio and plain text in place and download the rest, PDF too', () => {
    expect(dispositionFor('image/png')).toBe('inline');
    expect(dispositionFor('audio/webm')).toBe('inline');
    // Chrome's PDF viewer does not run in /chat/blob's sandboxed document
    expect(dispositionFor('application/pdf')).toBe('attachment');
    expect(dispositionFor('text/plain')).toBe('inline');
    expect(dispositionFor('text/html')).toBe('attachment');
    expect(dispositionFor('image/svg+xml')).toBe('attachment');
    expect(dispositionFor('application/zip')).toBe('attachment');
  });
});

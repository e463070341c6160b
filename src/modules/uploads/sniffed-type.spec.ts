import fc from 'fast-check';
import { looksLikeText, resolveMimeType } from './file-rules';
import { sniffedType } from './sniffed-type';
import { HEAD_BYTES } from './upload-source';

const ALLOWED = ['image/png', 'application/pdf', 'text/plain', 'audio/mpeg', 'audio/ogg', 'audio/wav'];

// the intake's decision on a file's first bytes (file-intake.service.ts, `keep`)
async function storedType(bytes: Buffer, declared = 'text/plain'): Promise<string | undefined> {
  const head = bytes.subarray(0, HEAD_BYTES);
  const detected = await sniffedType(head);
  return resolveMimeType({
    detected,
    isText: detected === undefined && looksLikeText(head),
    declared,
    allowed: ALLOWED,
  });
}

const utf16le = (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
const utf16be = (text: string) =>
  Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]);

// MPEG-1 Layer I frames with a CRC: their headers start FF FE, as a UTF-16LE BOM does
const LAYER1_KBPS = [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448];
const MPEG1_RATES = [44100, 48000, 32000];
const layer1Frame = (bitrate: number, rate: number, padding: number, fill: number) => {
  const length = (Math.floor((12 * LAYER1_KBPS[bitrate] * 1000) / MPEG1_RATES[rate]) + padding) * 4;
  const frame = Buffer.alloc(length, fill);
  frame.set([0xff, 0xfe, (bitrate << 4) | (rate << 2) | (padding << 1), 0x00]);
  return frame;
};

// docs/protocol.md, "Uploads and files": a UTF-16LE text file (Notepad's "Unicode") was stored as
// audio/mpeg "notes.mp3" (file-type reads FF FE as an MPEG frame's sync); the UTF-16BE one was 415.
describe('sniffedType', () => {
  it('should refuse UTF-16 text with a byte order mark, whatever it says', async () => {
    expect(await storedType(utf16le('Meeting notes: buy milk\r\n'))).toBeUndefined();
    expect(await storedType(utf16be('Meeting notes'))).toBeUndefined();
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 2100 }),
        fc.boolean(),
        async (text, little) => {
          expect(await storedType(little ? utf16le(text) : utf16be(text))).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should still know MPEG audio whose frames follow one another from FF FE', async () => {
    const frame = fc.record({
      bitrate: fc.integer({ min: 1, max: 14 }),
      padding: fc.integer({ min: 0, max: 1 }),
      // (bytes file-type reads as no other format: 0x47 at 4 and 192 is an MPEG transport stream)
      fill: fc.constantFrom(0x00, 0x55, 0xaa),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 }),
        fc.array(frame, { minLength: 2, maxLength: 40 }),
        async (rate, frames) => {
          const stream = Buffer.concat(
            frames.map(({ bitrate, padding, fill }) => layer1Frame(bitrate, rate, padding, fill)),
          );
          expect(await storedType(stream, 'audio/mpeg')).toBe('audio/mpeg');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should keep knowing ordinary MP3 (ID3 tag or Layer III frames)', async () => {
    // 128 kbit/s at 44.1 kHz: 417-byte frames
    const layer3 = Buffer.concat(
      Array.from({ length: 12 }, () => {
        const frame = Buffer.alloc(417, 0x55);
        frame.set([0xff, 0xfb, 0x90, 0x64]);
        return frame;
      }),
    );
    expect(await storedType(layer3, 'audio/mpeg')).toBe('audio/mpeg');
    const tagged = Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x0a'), Buffer.alloc(10), layer3]);
    expect(await storedType(tagged, 'audio/mpeg')).toBe('audio/mpeg');
  });
});

// The HTTP hostile-client audit of session 43: file-type 16 rejects on a file that begins a known
// format and stops short (EndOfStreamError) or on a made-up EBML id (RangeError), and the upload was
// a 500 (5 of 5 files, 3 of 3 runs). Such bytes are of no type: 415, or text when they look it.
describe('sniffedType on bytes cut short', () => {
  const MAGIC = [
    '89504e470d0a1a0a', // PNG
    '49492a00', // TIFF, little-endian
    '4d4d002a', // TIFF, big-endian
    '1a45dfa3', // EBML (Matroska, WebM)
    '4f676753', // OggS
    '52494646', // RIFF (WAV, WebP, AVI)
    '504b0304', // ZIP (docx, xlsx, epub)
    'ffd8ff', // JPEG
    '494433', // ID3
    '0000001c66747970', // ISO BMFF (mp4, m4a, heic)
    '25504446', // %PDF
    '47494638', // GIF8
    'fffb', // MPEG audio frame
    '664c6143', // fLaC
    '000001ba', // MPEG program stream
  ].map((hex) => Buffer.from(hex, 'hex'));

  it('should answer a cut PNG, TIFF or Matroska as of no type, and "OggS" text as text', async () => {
    expect(await sniffedType(Buffer.from('89504e470d0a1a0a', 'hex'))).toBeUndefined();
    expect(await sniffedType(Buffer.from('49492a0008000000', 'hex'))).toBeUndefined();
    expect(await sniffedType(Buffer.from('1a45dfa39f4286', 'hex'))).toBeUndefined();
    const madeUpId = Buffer.concat([
      Buffer.from('1a45dfa38102000000000000004282', 'hex'),
      Buffer.alloc(5000, 0x41),
    ]);
    expect(await sniffedType(madeUpId)).toBeUndefined();
    expect(await storedType(Buffer.from('OggS is the capture pattern\n'))).toBe('text/plain');
  });

  it('should never throw on any bytes after a known magic, cut anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...MAGIC),
        fc.uint8Array({ maxLength: 600 }),
        fc.nat(),
        async (magic, rest, cut) => {
          const bytes = Buffer.concat([magic, rest]);
          // a rejection fails the property
          await sniffedType(bytes.subarray(0, 1 + (cut % bytes.length)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// The HTTP hostile-client audit of session 43: a UTF-8 note beginning "ID3 tags explained" was
// stored as audio/mpeg "….mp3", one beginning "GIF89a" as image/gif (3 of 3 runs).
describe('sniffedType on text that begins with a magic', () => {
  // a 1×1 GIF
  const GIF = Buffer.from('474946383961010001008000000000000000002c00000000010001000002024401003b', 'hex');
  const layer3 = Buffer.concat(
    Array.from({ length: 12 }, () => {
      const frame = Buffer.alloc(417, 0x55);
      frame.set([0xff, 0xfb, 0x90, 0x64]);
      return frame;
    }),
  );
  const id3 = (version: number, flags: number, size: number) =>
    Buffer.from([
      0x49,
      0x44,
      0x33,
      version,
      0,
      flags,
      (size >> 21) & 0x7f,
      (size >> 14) & 0x7f,
      (size >> 7) & 0x7f,
      size & 0x7f,
    ]);

  it('should store any text that begins "ID3" or "GIF8" as text', async () => {
    expect(
      await storedType(Buffer.from('ID3 tags explained: an ID3v2 tag starts with the letters ID3.\n')),
    ).toBe('text/plain');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('ID3', 'GIF87a', 'GIF89a'),
        fc.string({ unit: 'grapheme', maxLength: 5000 }),
        async (magic, text) => {
          expect(await storedType(Buffer.from(magic + text))).toBe('text/plain');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should still know a GIF, and MP3 behind an ID3 tag of each version, ending in the head or past it', async () => {
    expect(await sniffedType(GIF)).toBe('image/gif');
    for (const version of [2, 3, 4]) {
      const tagged = Buffer.concat([id3(version, 0, 100), Buffer.alloc(100), layer3]);
      expect([version, await sniffedType(tagged)]).toEqual([version, 'audio/mpeg']);
    }
    // a tag of cover art longer than the head, not seen to its end
    const cover = Buffer.concat([id3(3, 0x40, 200_000), Buffer.alloc(HEAD_BYTES)]);
    expect(await sniffedType(cover.subarray(0, HEAD_BYTES))).toBe('audio/mpeg');
  });

  it('should not take an ID3 header that is none, or a tag with no MPEG frame after it, for MP3', async () => {
    const after = (header: Buffer, size: number) => Buffer.concat([header, Buffer.alloc(size), layer3]);
    expect(await sniffedType(after(id3(5, 0, 10), 10))).toBeUndefined(); // version 2.5
    expect(await sniffedType(after(id3(3, 0x01, 10), 10))).toBeUndefined(); // a flag v2.3 lacks
    const sizeByte = id3(3, 0, 10);
    sizeByte[8] = 0x80;
    expect(await sniffedType(after(sizeByte, 10))).toBeUndefined();
    // the tag ends within the head, and no frame begins there
    expect(
      await sniffedType(Buffer.concat([id3(3, 0, 10), Buffer.alloc(10), Buffer.alloc(3000, 0x41)])),
    ).toBeUndefined();
  });
});

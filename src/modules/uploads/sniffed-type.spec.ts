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

import { Logger } from '@nestjs/common';
import { fromBuffer } from 'file-type';
import { describeError } from '../../common/logging/logging';
import { looksLikeText } from './file-rules';

const logger = new Logger('uploads');

// The type a file's first bytes show (file-type's magic bytes), undefined when none is known.
// file-type takes any FF Ex/FF Fx start for an MPEG audio frame, so UTF-16LE text (BOM FF FE,
// Notepad's "Unicode") was stored as audio/mpeg "notes.mp3": such a start is trusted only when the
// frames after it follow one another (docs/protocol.md, "Uploads and files"); else the file is
// judged as unknown bytes (415, as UTF-16BE text is).
// It takes any start "ID3" for an MP3's tag and "GIF8" for a GIF too: until the HTTP hostile-client
// audit of session 43 a UTF-8 note beginning "ID3 tags explained" was stored as audio/mpeg
// "….mp3", one beginning "GIF89a" as image/gif (3 of 3 runs). An ID3 start is trusted only when its
// header is one, a GIF only when its first bytes do not read as text (a GIF's header and blocks
// hold control bytes); else the bytes are judged as any others: text when they look it. A note
// beginning "%PDF-" stays a PDF: a PDF may be all ASCII, and that header is what makes one.
export async function sniffedType(head: Uint8Array): Promise<string | undefined> {
  const detected = (await detectedType(head))?.mime;
  if (detected === 'audio/mpeg' && head[0] === 0xff && head[1] === 0xfe && !mpegFramesHold(head))
    return undefined;
  if (detected === 'audio/mpeg' && startsWith(head, 'ID3') && !id3TagHolds(head)) return undefined;
  if (detected === 'image/gif' && looksLikeText(head)) return undefined;
  return detected;
}

function startsWith(bytes: Uint8Array, text: string): boolean {
  return String.fromCharCode(...bytes.subarray(0, text.length)) === text;
}

// file-type's answer, or none when it throws. A file that begins a known format and stops short (a
// PNG cut after its signature, text that begins "OggS") makes file-type 16 reject with
// EndOfStreamError: its fromTokenizer returns _fromTokenizer's promise without awaiting it, so its
// own catch of that error never runs; a made-up EBML element id of 7 bytes is a RangeError. Until
// the HTTP hostile-client audit of session 43 that reached the intake's catch-all: 500 "The file
// could not be stored" and an error-level `upload_failed` line for the client's own bytes (5 of 5
// files, 3 of 3 runs). Such bytes are of no type known now: refused 415, or text when they look it
// (docs/protocol.md, "Uploads and files").
async function detectedType(head: Uint8Array): Promise<{ mime: string } | undefined> {
  try {
    return await fromBuffer(head);
  } catch (error) {
    // the client's bytes, not a fault here
    logger.debug({ event: 'upload_type_unreadable', err: describeError(error) }, 'file type unreadable');
    return undefined;
  }
}

// kbit/s by bitrate index, per [MPEG-1 or 2][layer I, II, III]
const KBPS = {
  mpeg1: [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  mpeg2: [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
};
// Hz by sample rate index, by version bits (0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1)
const RATES: Record<number, number[]> = {
  0: [11025, 12000, 8000],
  2: [22050, 24000, 16000],
  3: [44100, 48000, 32000],
};

interface FrameHeader {
  // version, layer and sample rate: the same in every frame of a stream
  kind: number;
  length: number;
}

// The MPEG audio frame header at `at`, undefined when those 4 bytes are none (free-format frames
// included: their length cannot be known from the header).
function frameAt(bytes: Uint8Array, at: number): FrameHeader | undefined {
  if (at + 4 > bytes.length || bytes[at] !== 0xff || (bytes[at + 1] & 0xe0) !== 0xe0) return undefined;
  const version = (bytes[at + 1] >> 3) & 3;
  const layer = 3 - ((bytes[at + 1] >> 1) & 3); // 0: layer I … 2: layer III (3: reserved)
  const bitrateIndex = bytes[at + 2] >> 4;
  const rateIndex = (bytes[at + 2] >> 2) & 3;
  const padding = (bytes[at + 2] >> 1) & 1;
  const rates = RATES[version];
  if (!rates || layer === 3 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return undefined;
  const bitrate = (version === 3 ? KBPS.mpeg1 : KBPS.mpeg2)[layer][bitrateIndex] * 1000;
  const rate = rates[rateIndex];
  const length =
    layer === 0
      ? (Math.floor((12 * bitrate) / rate) + padding) * 4
      : Math.floor(((layer === 2 && version !== 3 ? 72 : 144) * bitrate) / rate) + padding;
  return { kind: (version << 4) | (layer << 2) | rateIndex, length };
}

// Every frame whose header lies within `head` follows the one before, alike, and there are two at
// least: real MPEG audio, not text that happens to start with a sync pattern.
export function mpegFramesHold(head: Uint8Array): boolean {
  const first = frameAt(head, 0);
  if (!first) return false;
  let frames = 1;
  for (let at = first.length; at + 4 <= head.length; frames++) {
    const next = frameAt(head, at);
    if (!next || next.kind !== first.kind) return false;
    at += next.length;
  }
  return frames >= 2;
}

// An ID3v2 tag's 10-byte header (id3.org, ID3v2.4 "ID3v2 header"; v2.2 and v2.3 alike): "ID3", a
// major version 2..4, a revision below FF, no flag bits the version does not define, and a size of
// four bytes of seven bits each. When the tag ends within `head`, an MPEG audio frame must begin
// where it ends; a tag running past `head` (cover art) cannot be checked further and is taken as it
// is. (file-type reads a tag followed by v2.4's footer as no type: such a file never comes here.)
export function id3TagHolds(head: Uint8Array): boolean {
  if (head.length < 10 || !startsWith(head, 'ID3')) return false;
  const [version, revision, flags] = [head[3], head[4], head[5]];
  if (version < 2 || version > 4 || revision === 0xff) return false;
  // v2.2 defines 2 flag bits, v2.3 3, v2.4 4, from the top
  if ((flags & (0xff >> version)) !== 0) return false;
  if (head.subarray(6, 10).some((byte) => byte >= 0x80)) return false;
  const size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9];
  return 10 + size + 4 > head.length || frameAt(head, 10 + size) !== undefined;
}

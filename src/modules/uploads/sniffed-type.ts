import { Logger } from '@nestjs/common';
import { fromBuffer } from 'file-type';
import { describeError } from '../../common/logging/logging';

const logger = new Logger('uploads');

// The type a file's first bytes show (file-type's magic bytes), undefined when none is known.
// file-type takes any FF Ex/FF Fx start for an MPEG audio frame, so UTF-16LE text (BOM FF FE,
// Notepad's "Unicode") was stored as audio/mpeg "notes.mp3": such a start is trusted only when the
// frames after it follow one another (docs/protocol.md, "Uploads and files"); else the file is
// judged as unknown bytes (415, as UTF-16BE text is).
export async function sniffedType(head: Uint8Array): Promise<string | undefined> {
  const detected = (await detectedType(head))?.mime;
  if (detected === 'audio/mpeg' && head[0] === 0xff && head[1] === 0xfe && !mpegFramesHold(head))
    return undefined;
  return detected;
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

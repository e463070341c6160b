// The fake OpenAI server of the test suite, in the bench process, so the time a chunk is written and
// the time a client receives it are read from the same clock.
import { startOpenAiFake, type OpenAiFake } from '../test/fakes/openai-fake';
import { FakeCall, type FakeScript, type RecordedRequest } from '../test/fakes/sse';

// Latency replies are made of fixed-width tokens `<tag>:<index>|`, one per chunk, so a chunk's text
// alone says which reply and which position it is.
const TOKEN_INDEX_WIDTH = 3;
const CONTENT = /"content":"([^"]+)"/;

export class ChunkClock {
  active = false;
  // token → performance.now() right after the fake wrote it to the socket
  readonly written = new Map<string, number>();
}

export interface BenchFake {
  fake: OpenAiFake;
  clock: ChunkClock;
}

// The fake records only the first chunk's time; the bench needs every chunk's, so it wraps the one
// method that writes frames. A `chunkWrittenAt` list in RecordedRequest would make this unnecessary.
function recordWrites(clock: ChunkClock): void {
  const original = FakeCall.prototype.write;
  FakeCall.prototype.write = function (this: FakeCall<FakeScript>, frame: string | Buffer): Promise<void> {
    const written = original.call(this, frame);
    if (clock.active && typeof frame === 'string') {
      const match = CONTENT.exec(frame);
      if (match) clock.written.set(match[1], performance.now());
    }
    return written;
  };
}

export async function startBenchFake(): Promise<BenchFake> {
  const clock = new ChunkClock();
  recordWrites(clock);
  const fake = await startOpenAiFake({});
  return { fake, clock };
}

// Saturation: a fixed reply cut into `chunks` deltas of 4 characters, written back to back.
export function saturationScript(chunks: number): FakeScript {
  return { reply: 'abcd'.repeat(chunks), chunkSize: 4, delayMs: 0 };
}

// Paced replies whose tokens carry the tag the client put in its message (the last user turn). As a
// vendor does, a reply stops at the request's max_completion_tokens (or max_tokens), one chunk here
// standing for one token: a session's title asks for 24 (until session 20 the fake gave it the 40 of
// a reply, 600 characters for chatbox to parse and clean where a vendor sends a few words).
export function pacedScript(chunks: number, delayMs: number): FakeScript {
  return {
    reply: (request: RecordedRequest) =>
      tokens(lastUserText(request), Math.min(chunks, tokenLimit(request))).join(''),
    chunkSize: tokenWidth(TAG_WIDTH),
    delayMs,
  };
}

export const TAG_WIDTH = 10;

export function tag(client: number, turn: number): string {
  return `c${String(client).padStart(5, '0')}t${String(turn).padStart(3, '0')}`.slice(0, TAG_WIDTH);
}

export function tokens(tagText: string, chunks: number): string[] {
  return Array.from(
    { length: chunks },
    (_, index) => `${tagText}:${String(index).padStart(TOKEN_INDEX_WIDTH, '0')}|`,
  );
}

export function tokenIndex(token: string): number {
  return Number(token.slice(TAG_WIDTH + 1, TAG_WIDTH + 1 + TOKEN_INDEX_WIDTH));
}

function tokenWidth(tagWidth: number): number {
  return tagWidth + 1 + TOKEN_INDEX_WIDTH + 1;
}

function tokenLimit(request: RecordedRequest): number {
  const limit = request.body.max_completion_tokens ?? request.body.max_tokens;
  return typeof limit === 'number' && limit > 0 ? limit : Number.POSITIVE_INFINITY;
}

function lastUserText(request: RecordedRequest): string {
  const messages = Array.isArray(request.body.messages) ? request.body.messages : [];
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index] as { role?: unknown; content?: unknown };
    if (message.role === 'user' && typeof message.content === 'string')
      return message.content.slice(0, TAG_WIDTH).padEnd(TAG_WIDTH, '_');
  }
  return '?'.repeat(TAG_WIDTH);
}

import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';

export type ScanVerdict = { clean: true } | { clean: false; signature: string };

// clamd could not give a verdict (down, timeout, size limit, internal error): callers fail closed.
export class ScannerUnavailable extends Error {
  constructor(reason: string) {
    super(`malware scanner unavailable: ${reason}`);
  }
}

// clamd refused the stream as longer than its StreamMaxLength: the file is too large for the scanner,
// clamd itself is fine (docs/protocol.md, "Uploads and files").
export class ScanSizeLimit extends Error {
  constructor(reason: string) {
    super(`malware scanner refused the stream: ${reason}`);
  }
}

// clamd waited longer than its own ReadTimeout for the next bytes: the upload paused (or its other
// consumer held it), clamd itself is fine (docs/protocol.md, "Uploads and files").
export class ScanInputStalled extends Error {
  constructor(reason: string) {
    super(`malware scanner gave up waiting for the upload: ${reason}`);
  }
}

// clamd frames INSTREAM data in chunks with a 4-byte big-endian length; keep chunks modest.
const MAX_CHUNK_BYTES = 64 * 1024;
const MAX_REPLY_BYTES = 4096;

// Replies to zINSTREAM: "stream: OK", "stream: <signature> FOUND", "<reason> ERROR" (NUL-terminated).
export function parseClamdReply(reply: string): ScanVerdict | { error: string } {
  const line = reply.replace(/\0+$/, '').trim();
  if (/^stream: OK$/.test(line)) return { clean: true };
  const found = /^stream: (.+) FOUND$/.exec(line);
  if (found && found[1].trim().length > 0) return { clean: false, signature: found[1].trim() };
  return { error: line.length > 0 ? line.slice(0, 200) : 'empty reply' };
}

// clamd over TCP (INSTREAM): the stream is forwarded chunk by chunk, never held whole.
export class ClamdScanner {
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const socket = await this.open(timeoutMs);
      const reply = readReply(socket);
      socket.end('zPING\0');
      return (await reply).replace(/\0+$/, '').trim() === 'PONG';
    } catch {
      return false;
    }
  }

  // CLAMAV_TIMEOUT bounds clamd only: connecting, taking our bytes, and the verdict once the last
  // chunk (the zero-length terminator) is sent. While we wait for the uploader's next bytes the timer
  // is off: a pause of the upload is not clamd being down, and counting it as scanner_down paged
  // on-call (docs/protocol.md, "Uploads and files").
  async scan(body: Readable): Promise<ScanVerdict> {
    const socket = await this.open(this.timeoutMs);
    const reply = readReply(socket);
    // clamd answers early (and closes) on errors such as its size limit: stop sending then
    let answered = false;
    let onAnswer: (() => void) | undefined;
    const hearAnswer = () => {
      answered = true;
      onAnswer?.();
    };
    void reply.then(hearAnswer, hearAnswer);
    const upload = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    // The upload's next bytes, or the end once clamd answered meanwhile (its own ReadTimeout). Not a
    // Promise.race against one long-lived promise: each race stays subscribed to it with its chunk
    // until it settles, and a 200 MiB upload was held whole in memory.
    const nextBytes = () =>
      new Promise<IteratorResult<Buffer>>((resolve, reject) => {
        if (answered) return resolve({ done: true, value: undefined });
        onAnswer = () => resolve({ done: true, value: undefined });
        upload.next().then(resolve, reject);
      }).finally(() => (onAnswer = undefined));
    try {
      await write(socket, Buffer.from('zINSTREAM\0'));
      for (;;) {
        socket.setTimeout(0);
        // the upload's own failure (cut off, its storage failed first) is passed on as it is
        const next = await nextBytes();
        socket.setTimeout(this.timeoutMs);
        if (next.done || answered) break;
        const data = next.value;
        for (let offset = 0; offset < data.length && !answered; offset += MAX_CHUNK_BYTES) {
          const chunk = data.subarray(offset, offset + MAX_CHUNK_BYTES);
          const header = Buffer.alloc(4);
          header.writeUInt32BE(chunk.length);
          // one packet without copying the chunk
          socket.cork();
          socket.write(header);
          const flushed = write(socket, chunk);
          socket.uncork();
          await flushed;
        }
      }
      if (!answered) await write(socket, Buffer.alloc(4));
      return verdictOf(await reply);
    } catch (error) {
      // once clamd has answered, its answer explains a write that failed after it
      throw (answered && (await errorIn(reply))) || error;
    } finally {
      // stops reading the upload when clamd gave up early (the copy then stops too)
      void upload.return?.().catch(() => undefined);
      socket.destroy();
    }
  }

  private open(timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.host, port: this.port });
      socket.setTimeout(timeoutMs, () => socket.destroy(new ScannerUnavailable('timeout')));
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (error) => reject(new ScannerUnavailable(error.message)));
    });
  }
}

// clamd's reply as a verdict, or the error that explains it
function verdictOf(reply: string): ScanVerdict {
  const verdict = parseClamdReply(reply);
  if (!('error' in verdict)) return verdict;
  if (/size limit exceeded/i.test(verdict.error)) throw new ScanSizeLimit(verdict.error);
  if (/READ TIMED OUT/i.test(verdict.error)) throw new ScanInputStalled(verdict.error);
  throw new ScannerUnavailable(verdict.error);
}

// the error clamd's reply stands for, if any
async function errorIn(reply: Promise<string>): Promise<Error | undefined> {
  try {
    verdictOf(await reply);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : undefined;
  }
}

function readReply(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      if (text.includes('\0') || text.length > MAX_REPLY_BYTES) resolve(text.split('\0')[0]);
    });
    socket.once('end', () => resolve(text));
    socket.once('close', () => (text ? resolve(text) : reject(new ScannerUnavailable('connection closed'))));
    socket.once('error', (error) => reject(new ScannerUnavailable(error.message)));
  });
}

// Writes with backpressure; fails if the socket dies meanwhile.
function write(socket: Socket, data: Buffer): Promise<void> {
  if (socket.destroyed) return Promise.reject(new ScannerUnavailable('connection closed'));
  if (socket.write(data)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new ScannerUnavailable('connection closed'));
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

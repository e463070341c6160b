import fc from 'fast-check';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  ClamdScanner,
  parseClamdReply,
  ScanInputStalled,
  ScannerUnavailable,
  ScanSizeLimit,
} from './clamd.scanner';

// A loopback stand-in for clamd that decodes INSTREAM framing and answers as told.
function fakeClamd(answer: (command: string, data: Buffer, socket: Socket) => void): Promise<Server> {
  const server = createServer((socket) => {
    let buffer: Buffer = Buffer.alloc(0);
    let command: string | undefined;
    const chunks: Buffer[] = [];
    socket.on('data', (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      if (command === undefined) {
        const end = buffer.indexOf(0);
        if (end < 0) return;
        command = buffer.subarray(0, end).toString();
        buffer = buffer.subarray(end + 1);
        if (command !== 'zINSTREAM') return answer(command, Buffer.alloc(0), socket);
      }
      while (buffer.length >= 4) {
        const length = buffer.readUInt32BE(0);
        if (length === 0) return answer(command, Buffer.concat(chunks), socket);
        if (buffer.length < 4 + length) return;
        chunks.push(buffer.subarray(4, 4 + length));
        buffer = buffer.subarray(4 + length);
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: Server) => (server.address() as AddressInfo).port;

describe('parseClamdReply', () => {
  it('should read clean, infected and error replies', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ clean: true });
    expect(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND\0')).toEqual({
      clean: false,
      signature: 'Win.Test.EICAR_HDB-1',
    });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR\0')).toEqual({
      error: 'INSTREAM size limit exceeded. ERROR',
    });
    expect(parseClamdReply('')).toEqual({ error: 'empty reply' });
  });

  it('should only call a stream clean when clamd said exactly OK', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (reply) => {
        const verdict = parseClamdReply(reply);
        if ('clean' in verdict && verdict.clean) expect(reply.replace(/\0+$/, '').trim()).toBe('stream: OK');
      }),
      { numRuns: 300 },
    );
  });
});

describe(ClamdScanner.name, () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });
  const start = async (answer: Parameters<typeof fakeClamd>[0]) => {
    const server = await fakeClamd(answer);
    servers.push(server);
    return new ClamdScanner('127.0.0.1', portOf(server), 2000);
  };

  it('should send the whole stream in length-prefixed chunks and read the verdict', async () => {
    let received: Buffer = Buffer.alloc(0);
    const scanner = await start((_command, data, socket) => {
      received = data;
      socket.end(data.includes('EVIL') ? 'stream: Test.Evil FOUND\0' : 'stream: OK\0');
    });
    const data = Buffer.alloc(300_000, 'a');
    expect(await scanner.scan(Readable.from([data.subarray(0, 7), data.subarray(7)]))).toEqual({
      clean: true,
    });
    expect(received.equals(data)).toBe(true);
    expect(await scanner.scan(Readable.from([Buffer.from('xxEVILxx')]))).toEqual({
      clean: false,
      signature: 'Test.Evil',
    });
  });

  it('should answer PING with true when clamd says PONG', async () => {
    const scanner = await start((command, _data, socket) => socket.end(command === 'zPING' ? 'PONG\0' : ''));
    expect(await scanner.ping()).toBe(true);
  });

  it('should call the size limit clamd answers mid-stream a size limit, not the scanner being down', async () => {
    const scanner = await start(() => undefined);
    servers[0].removeAllListeners('connection');
    servers[0].on('connection', (socket: Socket) => {
      socket.once('data', () => socket.end('INSTREAM size limit exceeded. ERROR\0'));
      socket.on('error', () => undefined);
    });
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    // still a refusal (fail closed), but the file's size, not clamd being down (docs/protocol.md,
    // "Uploads and files")
    const refused = scanner.scan(endless);
    await expect(refused).rejects.toBeInstanceOf(ScanSizeLimit);
    await expect(refused).rejects.not.toBeInstanceOf(ScannerUnavailable);
  });

  it('should fail closed when clamd is not listening or hangs up without a verdict', async () => {
    const closed = await start((_command, _data, socket) => socket.destroy());
    await expect(closed.scan(Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(ScannerUnavailable);
    const port = portOf(servers[0]);
    await new Promise((resolve) => servers.splice(0)[0].close(resolve));
    const nobody = new ClamdScanner('127.0.0.1', port, 500);
    await expect(nobody.scan(Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(ScannerUnavailable);
    expect(await nobody.ping(300)).toBe(false);
  });

  it('should fail closed when clamd never answers', async () => {
    const server = await fakeClamd(() => undefined);
    servers.push(server);
    const slow = new ClamdScanner('127.0.0.1', portOf(server), 300);
    await expect(slow.scan(Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(ScannerUnavailable);
  });

  // docs/protocol.md, "Uploads and files": CLAMAV_TIMEOUT bounds clamd, not the uploader
  it('should not time out while it waits for the upload, however long the pause', async () => {
    const server = await fakeClamd((_command, data, socket) => socket.end(`stream: OK\0`));
    servers.push(server);
    const scanner = new ClamdScanner('127.0.0.1', portOf(server), 200);
    async function* paused() {
      yield Buffer.from('first part ');
      await new Promise((resolve) => setTimeout(resolve, 700));
      yield Buffer.from('second part');
    }
    expect(await scanner.scan(Readable.from(paused()))).toEqual({ clean: true });
  });

  it('should time out once the last chunk is sent and clamd gives no verdict', async () => {
    const server = await fakeClamd(() => undefined);
    servers.push(server);
    const scanner = new ClamdScanner('127.0.0.1', portOf(server), 200);
    async function* paused() {
      yield Buffer.from('a');
      await new Promise((resolve) => setTimeout(resolve, 500));
      yield Buffer.from('b');
    }
    const started = performance.now();
    const failed = scanner.scan(Readable.from(paused()));
    await expect(failed).rejects.toBeInstanceOf(ScannerUnavailable);
    await expect(failed).rejects.toThrow('timeout');
    // the timer ran from the terminator (after the 500 ms pause), not from the connection
    expect(performance.now() - started).toBeGreaterThanOrEqual(650);
  });

  it('should time out when clamd stops reading the stream', async () => {
    const held: Socket[] = [];
    const server = createServer((socket) => {
      held.push(socket);
      socket.pause();
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const scanner = new ClamdScanner('127.0.0.1', portOf(server), 300);
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await expect(scanner.scan(endless)).rejects.toThrow(ScannerUnavailable);
    // a paused socket never reads the client's FIN: close it for the server to close
    for (const socket of held) socket.destroy();
  });

  it("should blame the upload, not clamd, when clamd's own read timeout ends the stream", async () => {
    const server = await fakeClamd(() => undefined);
    servers.push(server);
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      socket.once('data', () => setTimeout(() => socket.end('COMMAND READ TIMED OUT\n'), 100));
      socket.on('error', () => undefined);
    });
    const scanner = new ClamdScanner('127.0.0.1', portOf(server), 5000);
    async function* stalled() {
      yield Buffer.from('a');
      await new Promise((resolve) => setTimeout(resolve, 400));
      yield Buffer.from('b');
    }
    const failed = scanner.scan(Readable.from(stalled()));
    await expect(failed).rejects.toBeInstanceOf(ScanInputStalled);
    await expect(failed).rejects.not.toBeInstanceOf(ScannerUnavailable);
  });

  it("should pass on the upload's own failure as it is, not as clamd being down", async () => {
    const server = await fakeClamd(() => undefined);
    servers.push(server);
    const scanner = new ClamdScanner('127.0.0.1', portOf(server), 2000);
    const disk = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    async function* failing() {
      yield Buffer.from('a');
      throw disk;
    }
    await expect(scanner.scan(Readable.from(failing()))).rejects.toBe(disk);
  });
});

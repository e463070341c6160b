import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { whenWritten } from './response-written';

// A real server and a raw TCP client that reads as each case says: an answer of 8 MiB, more than
// loopback's socket buffers take, so most of it waits in this process until the client reads.
describe(whenWritten.name, () => {
  const BODY = Buffer.alloc(8 * 1024 * 1024, 97);
  let server: Server;
  let watched: Promise<{ at: number; finished: boolean; cut: boolean }> | undefined;
  // the watch's period in each case
  let idleMs = 100;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    watched = undefined;
    idleMs = 100;
    server = createServer((_request, response: ServerResponse) => {
      response.setHeader('content-length', BODY.length);
      response.end(BODY);
      const started = Date.now();
      watched = whenWritten(response, idleMs).then(() => ({
        at: Date.now() - started,
        finished: response.writableFinished,
        cut: response.req.socket.destroyed,
      }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (): Promise<Socket> =>
    new Promise((resolve) => {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1', () => {
        socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        resolve(socket);
      });
      sockets.push(socket);
    });
  const waitFor = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  const answered = async () => {
    await waitFor(() => watched !== undefined);
    return watched as Promise<{ at: number; finished: boolean; cut: boolean }>;
  };

  it('should resolve once the answer is written to a client that reads it', async () => {
    // the client reads in this process: a period of 100 ms saw no byte go in a CI run with two other
    // suites at work (the event loop held up), and cut the answer. Production's period is 60 s
    idleMs = 1_000;
    const socket = await client();
    let read = 0;
    socket.on('data', (chunk: Buffer) => (read += chunk.length));
    const outcome = await answered();
    expect(outcome).toMatchObject({ finished: true, cut: false });
  });

  it('should close the connection of a client that reads none of its answer, within a few periods', async () => {
    const socket = await client();
    socket.pause();
    const outcome = await answered();
    expect(outcome).toMatchObject({ finished: false, cut: true });
    // the same bytes waiting at a look 100 ms after the last (with slack for a loaded machine)
    expect(outcome.at).toBeLessThan(2_000);
  });

  // The kernel takes a share of its socket buffer at a time (on loopback ~1.5 MB here, about every
  // 0.5 s at this pace): a period is a time in which a client that reads takes such a share. nginx's
  // send_timeout counts the same way (between two successive writes).
  it('should let a client that reads slowly go on: any byte taken is progress', async () => {
    idleMs = 2_000;
    const socket = await client();
    socket.pause();
    // about 2.5 MB/s: the answer takes ~3 s
    const reading = setInterval(() => {
      for (let reads = 0; reads < 4 && socket.read(16_384) !== null; reads++);
    }, 25);
    try {
      const outcome = await answered();
      expect(outcome).toMatchObject({ finished: true, cut: false });
      expect(outcome.at).toBeGreaterThan(1_000);
    } finally {
      clearInterval(reading);
    }
  });
});

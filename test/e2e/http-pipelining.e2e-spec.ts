import { connect, type Socket } from 'node:net';
import { startApp, type RunningApp } from '../helpers/app';
import { MAX_REQUESTS_IN_FLIGHT } from '../../src/common/http/request-gate';

// A client that pipelines requests and reads none of the answers (docs/protocol.md, "Bad input"):
// every request it sent was parsed and dispatched at once, each held until its answer could go out
// (60,000 of them: 2.4 GB of heap for minutes, and a 512 MiB pod died). Past a bound in flight its
// connection is closed; an ordinary client that pipelines a few is answered in full.
describe('pipelined HTTP requests (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const { port } = new URL(server.httpUrl);
      const socket = connect(Number(port), '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });
  const requests = (count: number) => 'GET /chat/healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(count);

  it('should close a connection that pipelines thousands of requests without reading an answer', async () => {
    const socket = await open();
    socket.on('error', () => undefined);
    // never read: the answers pile up on the server's side
    socket.pause();
    socket.write(requests(5_000));
    const closed = await Promise.race([
      new Promise((resolve) => socket.once('close', () => resolve('closed'))),
      new Promise((resolve) => setTimeout(() => resolve('open'), 5_000)),
    ]);
    socket.destroy();
    expect(closed).toBe('closed');
    // and the server goes on answering
    expect((await fetch(`${server.httpUrl}/chat/healthz`)).status).toBe(200);
  });

  it('should answer every one of a few pipelined requests, in order', async () => {
    const socket = await open();
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write(requests(MAX_REQUESTS_IN_FLIGHT));
    const deadline = Date.now() + 5_000;
    while ((received.match(/HTTP\/1\.1 200/g) ?? []).length < MAX_REQUESTS_IN_FLIGHT && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    expect((received.match(/HTTP\/1\.1 200/g) ?? []).length).toBe(MAX_REQUESTS_IN_FLIGHT);
  });
});

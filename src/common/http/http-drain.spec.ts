import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { HttpDrain } from './http-drain';
import { dropRefusedBody } from './request-body';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const GET = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

interface Raw {
  socket: Socket;
  text: () => string;
  closed: Promise<void>;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (data: Buffer) => (text += data.toString('latin1')));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, text: () => text, closed }));
    socket.once('error', reject);
  });
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

const answers = (text: string) => text.match(/HTTP\/1\.1 200/g)?.length ?? 0;

// A plain Node HTTP server with keep-alive, as Nest's express adapter runs it.
describe('HttpDrain', () => {
  let server: Server;
  let drain: HttpDrain;
  let port: number;
  // responses held until released, to have a request being answered at a chosen moment
  let held: Array<() => void>;

  beforeEach(async () => {
    held = [];
    server = createServer((request, response) => {
      if (request.url === '/slow') held.push(() => response.end('slow'));
      else if (request.url === '/refused') {
        // answered at once, the rest of the body read and dropped (as a refused upload's)
        dropRefusedBody(request, response);
        response.writeHead(413).end('too large');
      } else response.end('ok');
    });
    drain = new HttpDrain(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });

  const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));

  it('should answer with keep-alive before the drain, and end each connection after its response once it began', async () => {
    const client = await raw(port);
    client.socket.write(GET);
    await until(() => answers(client.text()) === 1);
    expect(client.text()).toMatch(/connection: keep-alive/i);
    drain.begin();
    client.socket.write(GET);
    await client.closed;
    expect(answers(client.text())).toBe(2);
    expect(client.text().split('HTTP/1.1 200')[2]).toMatch(/connection: close/i);
  });

  // A refused request's body is read and dropped after its answer, for up to 30 s
  // (dropRefusedBody): a stop does not wait for that.
  it('should cut a connection whose answer went out while its body is still being dropped', async () => {
    const client = await raw(port);
    client.socket.write(
      'POST /refused HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n' + 'x'.repeat(1000),
    );
    await until(() => client.text().includes('413'));
    drain.begin();
    const closed = closeServer();
    await client.closed;
    await closed;
  });

  it('should let the close end when a connection busy at the close keeps sending requests (what Node alone never ends)', async () => {
    const client = await raw(port);
    client.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 1);
    drain.begin();
    const closed = closeServer();
    held[0]();
    // a pooled client calls again at once on the same connection
    for (let index = 0; index < 5 && !client.socket.destroyed; index++) {
      client.socket.write(GET);
      await sleep(20);
    }
    await closed;
    await client.closed;
    // the slow request was answered: nothing being answered is cut
    expect(client.text()).toContain('slow');
  });

  it('should end a connection idle after a keep-alive response that was already under way when the drain began', async () => {
    const client = await raw(port);
    client.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 1);
    drain.begin();
    held[0]();
    await client.closed;
    expect(client.text()).toContain('slow');
  });

  it('should cut, once the listener is closed, a connection that sent part of a request, and only then', async () => {
    const client = await raw(port);
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    await sleep(50);
    drain.begin();
    await sleep(200);
    expect(client.socket.destroyed).toBe(false);
    await closeServer();
    await client.closed;
  });

  it('should never cut a request being answered when the listener closes', async () => {
    const client = await raw(port);
    client.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => held.length === 1);
    drain.begin();
    const closed = closeServer();
    await sleep(200);
    expect(client.socket.destroyed).toBe(false);
    held[0]();
    await closed;
    await client.closed;
    expect(client.text()).toContain('slow');
    expect(client.text()).toMatch(/connection: close/i);
  });

  it("should leave an upgraded socket to its gateway: the drain's cut passes it by", async () => {
    // what ws does with an accepted upgrade: the socket is answered 101 and kept
    const upgraded: Socket[] = [];
    server.on('upgrade', (_request, socket: Socket) => {
      upgraded.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    });
    const client = await raw(port);
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    await until(() => client.text().includes('101'));
    // beside it, a connection that the cut does end
    const partial = await raw(port);
    partial.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    drain.begin();
    const closed = closeServer();
    await partial.closed;
    await sleep(100);
    expect(client.socket.destroyed).toBe(false);
    expect(upgraded[0].destroyed).toBe(false);
    upgraded[0].destroy();
    await closed;
  });
});

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Connection } from './connection';
import { writeData } from './client-hub';

// Frames written to one socket in one go (a reply's held frames shown at once, a catch-up) leave
// in one write of the TCP socket, in order; a frame written alone still leaves at once.
describe('writeData', () => {
  let server: WebSocketServer;
  let client: WebSocket;
  let connection: Connection;
  let raw: Duplex;
  const received: string[] = [];

  beforeEach(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on('message', (data: Buffer) => received.push(data.toString()));
    const [socket] = (await accepted) as [WebSocket];
    await once(client, 'open');
    connection = { id: 'c', socket, sessionId: 's', alive: true, seenAt: 0, pending: null } as Connection;
    raw = (socket as unknown as { _socket: Duplex })._socket;
    received.length = 0;
  });

  afterEach(async () => {
    client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  async function until(count: number): Promise<void> {
    for (let wait = 0; received.length < count && wait < 200; wait++)
      await new Promise((resolve) => setTimeout(resolve, 5));
  }

  it('sends the frames of one tick in one write, in order', async () => {
    const writes = jest.spyOn(raw, '_writev' as never);
    const single = jest.spyOn(raw, '_write' as never);
    for (let index = 0; index < 40; index++) writeData(connection, JSON.stringify({ index }));
    await until(40);
    expect(received).toEqual(Array.from({ length: 40 }, (_, index) => JSON.stringify({ index })));
    expect(writes.mock.calls.length + single.mock.calls.length).toBe(1);
  });

  // a rooms fan-out of several messages in one turn (each message's fan-out its own callback), a
  // reply's frames written from a stream's chunks and their promise continuations
  it('sends the frames of one turn of the event loop in one write, across ticks and microtasks', async () => {
    const writes = jest.spyOn(raw, '_writev' as never);
    const single = jest.spyOn(raw, '_write' as never);
    writeData(connection, 'a');
    process.nextTick(() => {
      writeData(connection, 'b');
      void Promise.resolve().then(() => writeData(connection, Buffer.from('c')));
    });
    setImmediate(() => writeData(connection, 'd'));
    await until(4);
    expect(received).toEqual(['a', 'b', 'c', 'd']);
    // a, b and c in one write; d, queued behind the uncork, in the next turn's
    expect(writes.mock.calls.length + single.mock.calls.length).toBe(2);
  });

  it('sends a frame written alone without waiting for another', async () => {
    writeData(connection, 'one');
    await until(1);
    expect(received).toEqual(['one']);
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeData(connection, 'two');
    await until(2);
    expect(received).toEqual(['one', 'two']);
  });

  it('writes nothing to a closed socket', async () => {
    connection.socket.close();
    await once(client, 'close');
    writeData(connection, 'late');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual([]);
  });
});

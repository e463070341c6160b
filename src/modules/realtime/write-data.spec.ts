import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import type { Writable } from 'node:stream';
import * as ws from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { Connection } from './connection';
import { EncodedFrame, writeData } from './write-data';

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
      void Promise.resolve().then(() => writeData(connection, new EncodedFrame('c')));
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

  // a room's fan-out writes the framed bytes straight to the TCP socket, between frames ws sends
  it('keeps the order of encoded frames and frames sent through ws, across every length form', async () => {
    const texts = ['s', 'x'.repeat(125), 'é'.repeat(100), 'y'.repeat(70_000), '{"a":1}', ''];
    const data = texts.map((text, index) => (index % 2 === 0 ? text : new EncodedFrame(text)));
    const writes = jest.spyOn(raw, 'write');
    for (const item of data) writeData(connection, item);
    await until(texts.length);
    expect(received).toEqual(texts);
    // each encoded one went as one write of its framed bytes
    const framed = data.flatMap((item) => (item instanceof EncodedFrame ? [item.framed] : []));
    expect(writes.mock.calls.filter(([chunk]) => framed.includes(chunk as Buffer))).toHaveLength(3);
  });

  // ws's sender queues while it compresses or reads a Blob: a frame written past it would overtake
  it('sends an encoded frame through ws, behind what its sender holds back', async () => {
    const sender = (connection.socket as unknown as { _sender: { _state: number; dequeue(): void } })._sender;
    sender._state = 1;
    writeData(connection, new EncodedFrame('held'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual([]);
    sender._state = 0;
    sender.dequeue();
    await until(1);
    expect(received).toEqual(['held']);
  });

  it('writes nothing to a closed socket', async () => {
    connection.socket.close();
    await once(client, 'close');
    writeData(connection, 'late');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual([]);
  });
});

// The framing made once for many sockets is the one RFC 6455 gives a server's unfragmented text frame:
// ws's own receiver (a client's) reads back every text, whatever its length form (7, 16, 64 bits).
describe('EncodedFrame', () => {
  // ws exports the receiver its clients read frames with (@types/ws leaves it out)
  const Receiver = (ws as unknown as { Receiver: new (options: { isServer: boolean }) => Writable }).Receiver;

  it('should read back as the same text frame in ws when given any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme', maxLength: 200 }),
          fc.integer({ min: 120, max: 70_000 }).map((length) => 'z'.repeat(length)),
        ),
        (text) => {
          const receiver = new Receiver({ isServer: false });
          const messages: Array<{ text: string; binary: boolean }> = [];
          receiver.on('message', (data: Buffer, binary: boolean) =>
            messages.push({ text: data.toString(), binary }),
          );
          const failures: unknown[] = [];
          receiver.on('error', (error: Error) => failures.push(error));
          receiver.write(new EncodedFrame(text).framed);
          expect(failures).toEqual([]);
          expect(messages).toEqual([{ text, binary: false }]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

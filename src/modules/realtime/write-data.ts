import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { Connection } from './connection';
import { closeSocket } from './close-socket';

// A client that cannot keep up is closed (1013: try again later) and catches up by replay.
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
export const CLOSE_SLOW_CLIENT = 1013;

// TCP sockets written to in this turn of the event loop: corked, so the frames a turn writes to one
// socket (a reply's held frames shown at once, a catch-up, a reply's last frame and its loading end,
// the frames of every room message fanned out in the turn) leave in one write instead of one each;
// uncorked once the turn's I/O callbacks are done (setImmediate: the same turn, no timer)
const corked = new Set<Duplex>();

function uncorkAll(): void {
  // emptied first: a socket that throws on uncork must not leave the others corked for good
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets)
    try {
      socket.uncork();
    } catch {
      // a socket torn down meanwhile: ws closes it and its client resumes
    }
}

// A text frame for many sockets (a room's fan-out): its JSON encoded once, and its WebSocket framing
// made once with it (RFC 6455 §5.2; server to client: FIN, text opcode, no mask, no extension, as
// every socket here has: permessage-deflate is off). Each socket then gets one write of the same
// bytes, where ws.send would build its options, a header and two writes per socket
// (docs/protocol.md, "Rooms", "Guarantees": serialized once per instance).
export class EncodedFrame {
  // the JSON's UTF-8 bytes, for ws.send when a socket cannot take the framed bytes
  readonly payload: Buffer;
  readonly framed: Buffer;

  constructor(json: string) {
    this.payload = Buffer.from(json);
    const length = this.payload.length;
    const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
    this.framed = Buffer.allocUnsafe(head + length);
    this.framed[0] = 0x81;
    if (head === 2) this.framed[1] = length;
    else if (head === 4) {
      this.framed[1] = 126;
      this.framed.writeUInt16BE(length, 2);
    } else {
      this.framed[1] = 127;
      this.framed.writeBigUInt64BE(BigInt(length), 2);
    }
    this.payload.copy(this.framed, head);
  }
}

// ws 8's own parts: its TCP socket, and its sender's state (0: nothing queued in the sender, which
// only queues while it compresses or reads a Blob, neither of which chatbox does)
interface WsInternals {
  _socket?: Duplex;
  _sender?: { _state?: number };
}

// Writes serialized frames to one socket: a client that cannot keep up is closed (1013) rather than
// buffered without bound. Every hub (sessions, rooms) writes through here. `data` is JSON text, or a
// frame encoded once for many sockets; always a text frame.
export function writeData(connection: Connection, data: string | EncodedFrame): void {
  const socket = connection.socket;
  if (socket.readyState !== WebSocket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    closeSocket(socket, CLOSE_SLOW_CLIENT, 'client too slow; reconnect to catch up');
    return;
  }
  // ws keeps its TCP socket in `_socket` (ws 8); without it, each frame is written on its own
  const internals = socket as unknown as WsInternals;
  const tcp = internals._socket;
  const open = tcp !== undefined && !tcp.destroyed;
  if (open && !corked.has(tcp)) {
    if (corked.size === 0) setImmediate(uncorkAll);
    tcp.cork();
    corked.add(tcp);
  }
  if (typeof data === 'string') socket.send(data);
  // the framed bytes go straight to the TCP socket only when the sender holds nothing back, so
  // frames keep their order whichever way each was written; else (another ws) through ws.send
  else if (open && internals._sender?._state === 0) tcp.write(data.framed);
  else socket.send(data.payload, TEXT);
}

const TEXT = { binary: false } as const;

const DRAIN_POLL_MS = 5;

// Whether `connection`'s socket came down to at most `below` bytes not yet sent (or closed) within
// `withinMs`: a writer of many frames at once (a replay) waits here between them rather than
// buffering them all (past MAX_BUFFERED_BYTES the socket would be closed as too slow); false for a
// client that did not read them in time.
export function drained(connection: Connection, below: number, withinMs: number): Promise<boolean> {
  const socket = connection.socket;
  const done = (): boolean => socket.readyState !== WebSocket.OPEN || socket.bufferedAmount <= below;
  if (done()) return Promise.resolve(true);
  const deadline = Date.now() + withinMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (done()) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, DRAIN_POLL_MS);
    };
    setTimeout(check, DRAIN_POLL_MS);
  });
}

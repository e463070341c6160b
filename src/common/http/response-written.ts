import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// how many idle periods an answer may wait unsent behind another one on its connection (nothing of
// this connection waiting to go out meanwhile) before the connection is closed
const QUEUED_PERIODS = 4;

// Resolves once the response is written (handed to the kernel: 'finish') or its connection is gone
// ('close'): until then the answer is memory of this process, which a client that reads nothing
// holds for as long as it keeps its connection (docs/protocol.md, "A user's requests at once").
// Meanwhile the connection is watched every `idleMs`: with bytes waiting to go out and none of them
// gone since the last look, the client reads nothing and the connection is closed; with nothing
// waiting to go out (the answer queued behind another of a pipelined connection, still being made)
// for QUEUED_PERIODS looks, too. A client that reads slowly goes on: any byte gone is progress.
export function whenWritten(response: ServerResponse, idleMs: number): Promise<void> {
  if (response.writableFinished || response.destroyed) return Promise.resolve();
  const socket = response.req.socket;
  return new Promise<void>((resolve) => {
    let last = waitingOf(socket);
    let queued = 0;
    const watch = setInterval(() => {
      const now = waitingOf(socket);
      const stalled = now.bytes > 0 ? now.key === last.key : ++queued >= QUEUED_PERIODS;
      if (now.bytes > 0) queued = 0;
      last = now;
      if (stalled) socket.destroy();
    }, idleMs);
    watch.unref();
    const done = () => {
      clearInterval(watch);
      response.off('finish', done);
      response.off('close', done);
      resolve();
    };
    response.once('finish', done);
    response.once('close', done);
  });
}

// What the connection has waiting to go out: in the stream's buffer, and in libuv's write queue
// (`writeQueueSize`, which shrinks as the kernel takes part of a large write: the stream's own
// length stays whole until the write completes)
function waitingOf(socket: Socket): { bytes: number; key: string } {
  const handle = (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle;
  const queue = handle?.writeQueueSize ?? 0;
  return { bytes: socket.writableLength + queue, key: `${socket.writableLength}/${queue}` };
}

import type { Readable } from 'node:stream';

// Reads and drops what is left of a refused request body, up to `limit` bytes and `timeoutMs`.
// true: the body ended within both, so the connection can stay open and the client, which may still
// be sending, reads the answer; closing on it mid-send makes its next write fail (EPIPE) before it
// sees the error. false: too much or too slow; the caller closes the connection instead.
export function drainRest(request: Readable, limit: number, timeoutMs: number): Promise<boolean> {
  if (request.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (drained: boolean) => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      if (!drained) request.pause();
      resolve(drained);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) finish(false);
    };
    const onEnd = () => finish(true);
    const onError = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.resume();
  });
}

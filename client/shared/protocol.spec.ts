import fc from 'fast-check';
import { toErrorFrame } from '../../src/protocol/frames';
import { parseFrame, parseModels } from './protocol';

describe('parseFrame', () => {
  it('should keep the envelope fields of a server frame', () => {
    const frame = parseFrame(
      JSON.stringify({ type: 'ack', seq: 3, client_id: 'c', id: 'i', metadata: { a: 1 }, extra: true }),
    );
    expect(frame).toEqual({ type: 'ack', seq: 3, client_id: 'c', id: 'i', metadata: { a: 1 } });
  });

  it('should normalise error objects and drop malformed fields', () => {
    expect(parseFrame('{"type":"error","error":{"code":5},"seq":-1,"content":7}')).toEqual({
      type: 'error',
      error: { code: 'INTERNAL', message: '', recoverable: true },
    });
  });

  it('should return null or a frame with a string type, never throw, for any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.anything().map((value) => JSON.stringify(value) ?? ''),
        ),
        (text) => {
          const frame = parseFrame(text);
          if (frame === null) return;
          expect(typeof frame.type).toBe('string');
          if (frame.seq !== undefined) expect(Number.isSafeInteger(frame.seq) && frame.seq >= 0).toBe(true);
          if (frame.metadata !== undefined) expect(typeof frame.metadata).toBe('object');
        },
      ),
    );
  });
});

describe('parseModels', () => {
  it('should keep entries with an id and name them by id when unnamed', () => {
    expect(parseModels([{ id: 'a', name: 'A' }, { id: 'b' }, { name: 'x' }, 3])).toEqual([
      { id: 'a', name: 'A' },
      { id: 'b', name: 'b' },
    ]);
    expect(parseModels('nope')).toEqual([]);
  });
});

describe('parseFrame against the server protocol module', () => {
  it('should read back every error frame the server builds', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.string(),
        fc.boolean(),
        fc.option(fc.nat(), { nil: undefined }),
        (code, message, recoverable, retryAfterMs) => {
          const built = toErrorFrame(code, message, {
            recoverable,
            sessionId: 's',
            clientId: 'c',
            retryAfterMs,
          });
          expect(parseFrame(JSON.stringify(built))).toEqual(built);
        },
      ),
      { numRuns: 200 },
    );
  });
});

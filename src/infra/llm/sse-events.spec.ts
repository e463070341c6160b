import fc from 'fast-check';
import { readSseEvents } from './sse-events';

async function* chunks(bytes: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  let start = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (cut <= start || cut >= bytes.length) continue;
    yield bytes.subarray(start, cut);
    start = cut;
  }
  yield bytes.subarray(start);
}

async function read(bytes: Buffer, cuts: number[] = []) {
  const events = [];
  for await (const event of readSseEvents(chunks(bytes, cuts)))
    events.push({ event: event.event, data: event.data });
  return events;
}

describe('readSseEvents', () => {
  it('should read data and named events, skipping comments and data-less events', async () => {
    const stream = Buffer.from(
      ': hi\n\nevent: ping\n\ndata: {"a":1}\n\nevent: message\ndata: x\ndata: y\n\n',
    );
    expect(await read(stream)).toEqual([
      { event: undefined, data: '{"a":1}' },
      { event: 'message', data: 'x\ny' },
    ]);
  });

  // every line ending SSE allows (LF, CRLF, a lone CR), the last event's included: a stream ending
  // in a lone CR lost its last event (Dify's message_end) until the parser was flushed at the end
  it('should yield the same events however the bytes are cut, multi-byte characters and any line ending included', async () => {
    const payload = fc
      .string({ unit: 'grapheme', maxLength: 30 })
      .map((text) => text.replace(/[\r\n]/g, ' '));
    await fc.assert(
      fc.asyncProperty(
        fc.array(payload, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(400)),
        fc.constantFrom('\n', '\r\n', '\r'),
        async (datas, cuts, eol) => {
          const bytes = Buffer.from(datas.map((data) => `data: ${data}${eol}${eol}`).join(''), 'utf8');
          const whole = await read(bytes);
          expect(whole.map((event) => event.data)).toEqual(datas);
          expect(await read(bytes, cuts)).toEqual(whole);
        },
      ),
    );
  });

  it('should drop a last event no blank line ends, whatever its line ending', async () => {
    for (const tail of ['data: two', 'data: two\n', 'data: two\r', 'data: two\r\n'])
      expect((await read(Buffer.from(`data: one\r\r${tail}`))).map((event) => event.data)).toEqual(['one']);
  });
});

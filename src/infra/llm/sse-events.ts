import { createParser, type EventSourceMessage } from 'eventsource-parser';

// Server-sent events from a fetch body. Bytes are decoded in streaming mode, so a multi-byte
// character split across network chunks arrives whole.
export async function* readSseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<EventSourceMessage> {
  const decoder = new TextDecoder('utf-8');
  const ready: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => ready.push(event) });
  let last = '';
  for await (const bytes of body) {
    const text = decoder.decode(bytes, { stream: true });
    if (text) last = text;
    parser.feed(text);
    while (ready.length > 0) yield ready.shift() as EventSourceMessage;
  }
  const rest = decoder.decode();
  if (rest) last = rest;
  // The parser holds a last CR back as the possible first half of a CRLF; at the end nothing follows
  // it, so it ended its line: an LF makes the pair the one line end the CR was. A stream whose lines
  // end in a lone CR (legal SSE) lost its last event, Dify's message_end, and its whole reply was
  // taken as cut off (docs/protocol.md, "Vendor streams end with the vendor's end"). The parser's
  // own flush (`reset({ consume: true })`, eventsource-parser 3) reads that CR as a line of its own.
  parser.feed(last.endsWith('\r') ? `${rest}\n` : rest);
  // an unterminated last event is a truncated stream: the caller notices the missing end event
  while (ready.length > 0) yield ready.shift() as EventSourceMessage;
}

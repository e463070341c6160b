import { createParser, type EventSourceMessage } from 'eventsource-parser';

// Server-sent events from a fetch body. Bytes are decoded in streaming mode, so a multi-byte
// character split across network chunks arrives whole.
export async function* readSseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<EventSourceMessage> {
  const decoder = new TextDecoder('utf-8');
  const ready: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => ready.push(event) });
  for await (const bytes of body) {
    parser.feed(decoder.decode(bytes, { stream: true }));
    while (ready.length > 0) yield ready.shift() as EventSourceMessage;
  }
  parser.feed(decoder.decode());
  // an unterminated last event is a truncated stream: the caller notices the missing end event
  while (ready.length > 0) yield ready.shift() as EventSourceMessage;
}

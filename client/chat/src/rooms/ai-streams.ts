import type { AiStreamInput, RoomThread } from './thread-state';

// A frame of an AI reply streaming (docs/protocol.md, "@ai in a room"). Deltas are placed by their
// offset: a repeat adds nothing; a first one past the start (joined mid-stream) is shown as partial.
// Frames of a reply already stored start nothing.
export function applyStreamFrame(thread: RoomThread, input: AiStreamInput): void {
  if (thread.byKey.has(input.replyId)) return;
  let stream = thread.aiStreams.get(input.replyId);
  if (!stream) {
    const from = input.phase === 'delta' ? (input.offset ?? 0) : 0;
    stream = {
      replyId: input.replyId,
      replyTo: input.replyTo,
      askerId: input.askerId,
      model: input.model,
      text: '',
      from,
      partial: from > 0,
    };
    thread.aiStreams.set(input.replyId, stream);
  }
  if (input.phase === 'end') stream.outcome = input.outcome ?? 'complete';
  if (input.phase !== 'delta' || input.content === undefined || input.offset === undefined) return;
  const expected = stream.from + stream.text.length;
  // a repeat (offset before the end) adds nothing; a gap shows what came, marked partial
  if (input.offset < expected) return;
  if (input.offset > expected) stream.partial = true;
  stream.text += input.content;
}

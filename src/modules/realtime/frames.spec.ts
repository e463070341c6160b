import fc from 'fast-check';
import { isDeltaFrame, isStoredFrame, STORED_EVENT_TYPES } from '../../protocol/frames';
import type { MessageRecord } from '../sessions/session.types';
import { storedFrame } from './frames';

const record: fc.Arbitrary<MessageRecord> = fc.record(
  {
    id: fc.uuid(),
    seq: fc.nat(),
    type: fc.constantFrom(...STORED_EVENT_TYPES),
    sender: fc.constantFrom('user' as const, 'ai' as const, 'admin' as const, 'system' as const),
    client_id: fc.string(),
    content: fc.string(),
    timestamp: fc.date({ noInvalidDate: true }),
    model_id: fc.string(),
    file_id: fc.string({ minLength: 1 }),
    metadata: fc.dictionary(fc.string(), fc.jsonValue()),
  },
  { requiredKeys: ['id', 'seq', 'type', 'sender', 'timestamp'] },
);

describe(storedFrame.name, () => {
  it('should make every stored event a frame the hub orders by seq, never a delta', () => {
    fc.assert(
      fc.property(record, (message) => {
        const frame = storedFrame('s1', message);
        expect(isStoredFrame(frame)).toBe(true);
        expect(isDeltaFrame(frame)).toBe(false);
        expect(frame.seq).toBe(message.seq);
        if (message.type === 'ai_response') expect(frame.metadata?.done).toBe(true);
        if (message.file_id !== undefined)
          expect(frame.file_url).toBe(`/chat/files/${encodeURIComponent(message.file_id)}`);
        // a signed URL or the dedup key never leaves the server
        expect(Object.keys(frame)).not.toContain('dedup');
      }),
    );
  });
});

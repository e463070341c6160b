import fc from 'fast-check';
import { CLIENT_MESSAGE_TYPES, toErrorFrame } from './frames';
import { ErrorCode } from '../common/errors/error-code';
import { CLIENT_MESSAGE_TYPES as DTO_TYPES } from '../modules/chat/dto/client-envelope.dto';

describe('protocol frames', () => {
  it('should build an error frame holding exactly what it was given', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(ErrorCode)),
        fc.string(),
        fc.boolean(),
        fc.option(fc.uuid(), { nil: undefined }),
        fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
        fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
        (code, message, recoverable, sessionId, clientId, retryAfterMs) => {
          const frame = toErrorFrame(code, message, { recoverable, sessionId, clientId, retryAfterMs });
          expect(frame.type).toBe('error');
          expect(frame.error).toMatchObject({ code, message, recoverable });
          expect(frame.session_id).toBe(sessionId || undefined);
          expect(frame.client_id).toBe(clientId);
          if (retryAfterMs === undefined) expect('retry_after' in frame.error).toBe(false);
          else expect(frame.error.retry_after).toBe(Math.ceil(retryAfterMs));
          // a JSON round trip keeps it whole (what the socket carries)
          expect(JSON.parse(JSON.stringify(frame))).toEqual(frame);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should be the one list of client message types the validator accepts', () => {
    expect(DTO_TYPES).toBe(CLIENT_MESSAGE_TYPES);
  });
});

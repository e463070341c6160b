import fc from 'fast-check';
import { BSON } from 'mongodb';
import { decodeHead } from './session-head';

const message = fc.record({
  id: fc.uuid(),
  seq: fc.integer({ min: 1, max: 10_000 }),
  type: fc.constantFrom('user_message', 'ai_response'),
  content: fc.string(),
  timestamp: fc.date({ noInvalidDate: true }),
  search: fc.array(fc.base64String()),
});

const session = fc.record(
  {
    _id: fc.uuid(),
    user_id: fc.string(),
    name: fc.string(),
    seq: fc.integer({ min: 0, max: 10_000 }),
    bytes: fc.double({ noNaN: true }),
    is_active: fc.boolean(),
    last_activity: fc.date({ noInvalidDate: true }),
    end_time: fc.constant(null),
    assisting_admin_id: fc.option(fc.string(), { nil: undefined }),
    provider_state: fc.dictionary(
      fc.string({ minLength: 1 }).filter((key) => !/^\$|[.\0]/.test(key)),
      fc.jsonValue(),
    ),
    title_tokens: fc.array(fc.base64String()),
    takeovers: fc.array(fc.record({ admin_id: fc.string(), started_at: fc.date({ noInvalidDate: true }) })),
    help_response_ms: fc.array(fc.integer()),
    messages: fc.array(message),
    search_tokens: fc.array(fc.base64String()),
  },
  { requiredKeys: ['_id', 'seq'] },
);

describe('decodeHead', () => {
  it('is the document as the driver decodes it, without the log and the search index', () => {
    fc.assert(
      fc.property(session, (document) => {
        const bytes = BSON.serialize(document);
        const { messages: _log, search_tokens: _index, ...expected } = BSON.deserialize(bytes);
        expect(decodeHead(bytes)).toEqual(expected);
      }),
    );
  });

  it('reads a head out of a document whose log and index are large without decoding them', () => {
    const bytes = BSON.serialize({
      _id: 's',
      seq: 41,
      name: 'Trip to Lisbon',
      messages: Array.from({ length: 40 }, (_, index) => ({ id: `m${index}`, content: 'x'.repeat(500) })),
      search_tokens: Array.from({ length: 500 }, (_, index) => `token-${index}`),
    });
    expect(decodeHead(bytes)).toEqual({ _id: 's', seq: 41, name: 'Trip to Lisbon' });
  });

  it('fails on bytes that are not one BSON document, as the driver would', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let decoded: unknown;
        try {
          decoded = decodeHead(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(BSON.BSONError);
          return;
        }
        // only a well-formed document decodes: the driver decodes it the same way
        expect(decoded).toEqual(BSON.deserialize(bytes));
      }),
    );
  });
});

import fc from 'fast-check';
import { ErrorCode } from '../../common/errors/error-code';
import { CLIENT_MESSAGE_TYPES, type ClientMessageType } from './dto/client-envelope.dto';
import { hostileFrame } from '../../../test/fuzz/adversarial';
import { CLIENT_ENVELOPE_FIELDS } from '../../protocol/frames';
import { validateSync } from 'class-validator';
import { ClientEnvelopeDto } from './dto/client-envelope.dto';
import {
  acceptedFrameBytes,
  envelopeRulesCompiled,
  invalidField,
  parseClientFrame,
  validateEnvelope,
  type ParseResult,
} from './envelope-parser';

const MAX = 40;
const ERROR_CODES: string[] = Object.values(ErrorCode);
const MESSAGE_TYPES: readonly string[] = CLIENT_MESSAGE_TYPES;
const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(CLIENT_ENVELOPE_FIELDS);

function expectWellFormed(result: ParseResult): void {
  if (result.ok) {
    expect(MESSAGE_TYPES).toContain(result.message.type);
  } else {
    expect(ERROR_CODES).toContain(result.code);
    expect(typeof result.message).toBe('string');
  }
}

function expectFailure(result: ParseResult, code: ErrorCode): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.code).toBe(code);
}

function frame(data: Record<string, unknown>): string {
  return JSON.stringify(data);
}

const nonBlankText = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength }).filter((text) => text.trim().length > 0);
const clientId = fc.string({ minLength: 1, maxLength: 64 });

// Object keys a client must not send: anything outside the envelope (and outside Object.prototype's own names).
const unknownField = fc
  .string({ minLength: 1, maxLength: 20 })
  .filter((key) => !ENVELOPE_FIELDS.has(key) && !(key in Object.prototype));

describe('parseClientFrame', () => {
  it('should never throw and return a known type or a known error code when given any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), (raw) => {
        expectWellFormed(parseClientFrame(raw, MAX));
      }),
      { numRuns: 500 },
    );
  });

  it('should never throw when given any stringified JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expectWellFormed(parseClientFrame(JSON.stringify(value), MAX));
      }),
      { numRuns: 500 },
    );
  });

  it('should never throw when given envelope-shaped objects with arbitrary field values', () => {
    const shaped = fc.record(
      {
        type: fc.oneof(fc.constantFrom(...CLIENT_MESSAGE_TYPES), fc.jsonValue()),
        content: fc.jsonValue(),
        client_id: fc.jsonValue(),
        session_id: fc.jsonValue(),
        model_id: fc.jsonValue(),
        metadata: fc.jsonValue(),
        seq: fc.jsonValue(),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(shaped, (value) => {
        expectWellFormed(parseClientFrame(JSON.stringify(value), MAX));
      }),
      { numRuns: 500 },
    );
  });

  it('should accept a valid user_message with its content unchanged when content has 1..max characters', () => {
    fc.assert(
      fc.property(nonBlankText(1, MAX), clientId, (content, id) => {
        const result = parseClientFrame(frame({ type: 'user_message', content, client_id: id }), MAX);
        expect(result.ok).toBe(true);
        if (result.ok) {
          expect(result.message.type).toBe('user_message');
          expect(result.message.content).toBe(content);
          expect(result.message.client_id).toBe(id);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('should reject with MESSAGE_TOO_LONG and echo client_id when content has more than max characters', () => {
    fc.assert(
      fc.property(nonBlankText(MAX + 1, MAX + 30), clientId, (content, id) => {
        const result = parseClientFrame(frame({ type: 'user_message', content, client_id: id }), MAX);
        expectFailure(result, ErrorCode.MESSAGE_TOO_LONG);
        if (!result.ok) expect(result.client_id).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('should count an emoji as one character when checking the length limit', () => {
    const three = '😀🎉🚀';
    expect([...three]).toHaveLength(3);
    expect(three.length).toBe(6);
    expect(parseClientFrame(frame({ type: 'user_message', content: three }), 3).ok).toBe(true);
    expectFailure(
      parseClientFrame(frame({ type: 'user_message', content: `${three}a` }), 3),
      ErrorCode.MESSAGE_TOO_LONG,
    );
  });

  it('should accept content of exactly max characters and reject max + 1 when the text is ascii', () => {
    expect(parseClientFrame(frame({ type: 'user_message', content: 'a'.repeat(MAX) }), MAX).ok).toBe(true);
    expectFailure(
      parseClientFrame(frame({ type: 'user_message', content: 'a'.repeat(MAX + 1) }), MAX),
      ErrorCode.MESSAGE_TOO_LONG,
    );
  });

  it('should limit captions of other message types when content is over max', () => {
    expect(parseClientFrame(frame({ type: 'help_request', content: 'x'.repeat(MAX) }), MAX).ok).toBe(true);
    expectFailure(
      parseClientFrame(frame({ type: 'help_request', content: 'x'.repeat(MAX + 1) }), MAX),
      ErrorCode.MESSAGE_TOO_LONG,
    );
  });

  // a lone surrogate was counted as a character and acked, then stored as U+FFFD (attacker audit)
  it('should refuse text holding a lone surrogate anywhere in the frame, saying so', () => {
    for (const frame of [
      { type: 'user_message', content: 'A\ud800B' },
      { type: 'user_message', content: 'ok', client_id: '\udc00' },
      { type: 'user_message', content: 'ok', metadata: { note: ['x', 'y\ud83d'] } },
      { type: 'user_message', content: 'ok', metadata: { ['k\ud800']: 1 } },
    ])
      expect(parseClientFrame(JSON.stringify(frame), MAX)).toMatchObject({
        ok: false,
        code: ErrorCode.INVALID_MESSAGE,
        message: expect.stringContaining('surrogate'),
      });
  });

  it("should take a message's content exactly when it is whole Unicode", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 50 }), (text) => {
        const content = `x${text}`;
        const whole = !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(content);
        const result = parseClientFrame(JSON.stringify({ type: 'user_message', content }), MAX);
        expect(result.ok).toBe(whole);
      }),
      { numRuns: 2_000 },
    );
  });

  it('should reject null field values with INVALID_MESSAGE instead of throwing', () => {
    for (const field of ['content', 'model_id', 'metadata', 'client_id', 'session_id']) {
      const result = parseClientFrame(
        JSON.stringify({ type: 'user_message', content: 'x', [field]: null }),
        MAX,
      );
      expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_MESSAGE });
    }
  });

  it('should reject keys named like Object.prototype members as unknown fields', () => {
    for (const key of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const result = parseClientFrame(`{"type":"new_session","${key}":1}`, MAX);
      expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_MESSAGE });
    }
  });

  it('should reject with INVALID_MESSAGE when the envelope has an unknown field', () => {
    fc.assert(
      fc.property(unknownField, fc.jsonValue(), clientId, (key, value, id) => {
        const data: Record<string, unknown> = { type: 'user_message', content: 'hello', client_id: id };
        data[key] = value;
        const result = parseClientFrame(JSON.stringify(data), MAX);
        expectFailure(result, ErrorCode.INVALID_MESSAGE);
        if (!result.ok) expect(result.client_id).toBe(id);
      }),
      { numRuns: 300 },
    );
  });

  it('should reject with INVALID_MESSAGE when the frame is an array or a primitive', () => {
    const notObject = fc.oneof(
      fc.array(fc.jsonValue()),
      fc.string(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
    );
    fc.assert(
      fc.property(notObject, (value) => {
        expectFailure(parseClientFrame(JSON.stringify(value), MAX), ErrorCode.INVALID_MESSAGE);
      }),
    );
    expectFailure(parseClientFrame('[{"type":"new_session"}]', MAX), ErrorCode.INVALID_MESSAGE);
  });

  it('should reject with INVALID_MESSAGE when two JSON objects are sent in one frame', () => {
    const one = frame({ type: 'user_message', content: 'a' });
    const two = frame({ type: 'user_message', content: 'b' });
    expectFailure(parseClientFrame(`${one}${two}`, MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(parseClientFrame(`${one}\n${two}`, MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(parseClientFrame(`${one} ${two}`, MAX), ErrorCode.INVALID_MESSAGE);
  });

  it('should reject with INVALID_MESSAGE when the frame is not JSON', () => {
    expectFailure(parseClientFrame('', MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(parseClientFrame('hello', MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(parseClientFrame('{"type":"user_message",', MAX), ErrorCode.INVALID_MESSAGE);
  });

  it('should reject with INVALID_MESSAGE when the type is missing or unknown', () => {
    const unknownType = fc.string().filter((type) => !MESSAGE_TYPES.includes(type));
    fc.assert(
      fc.property(unknownType, (type) => {
        expectFailure(parseClientFrame(frame({ type, content: 'hi' }), MAX), ErrorCode.INVALID_MESSAGE);
      }),
    );
    expectFailure(parseClientFrame(frame({ content: 'hi' }), MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(
      parseClientFrame(frame({ type: 'ai_response', content: 'hi' }), MAX),
      ErrorCode.INVALID_MESSAGE,
    );
  });

  it('should echo client_id on failure when it is a string', () => {
    const result = parseClientFrame(frame({ type: 'user_message', content: '   ', client_id: 'c-1' }), MAX);
    expectFailure(result, ErrorCode.INVALID_MESSAGE);
    if (!result.ok) expect(result.client_id).toBe('c-1');
  });

  it('should not echo client_id on failure when it is not a string', () => {
    const result = parseClientFrame(frame({ type: 'user_message', content: '', client_id: 42 }), MAX);
    expectFailure(result, ErrorCode.INVALID_MESSAGE);
    if (!result.ok) expect(result.client_id).toBeUndefined();
  });

  it('should reject with INVALID_MESSAGE when a typed field has the wrong type', () => {
    expectFailure(
      parseClientFrame(frame({ type: 'user_message', content: 5 }), MAX),
      ErrorCode.INVALID_MESSAGE,
    );
    expectFailure(
      parseClientFrame(frame({ type: 'typing_indicator', metadata: 'yes' }), MAX),
      ErrorCode.INVALID_MESSAGE,
    );
    expectFailure(parseClientFrame(frame({ type: 'new_session', seq: -1 }), MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(parseClientFrame(frame({ type: 'new_session', seq: 1.5 }), MAX), ErrorCode.INVALID_MESSAGE);
  });
});

describe('validateEnvelope', () => {
  it('should check every frame with the compiled rules (the DTO uses only decorators they know)', () => {
    expect(envelopeRulesCompiled).toBe(true);
  });

  it('should never throw and return a known type or a known error code when given anything', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expectWellFormed(validateEnvelope(value, MAX));
      }),
      { numRuns: 500 },
    );
  });

  it('should reject with INVALID_MESSAGE when user_message content is blank or missing', () => {
    const blank = fc.stringMatching(/^[ \t\r\n]*$/);
    fc.assert(
      fc.property(blank, (content) => {
        expectFailure(validateEnvelope({ type: 'user_message', content }, MAX), ErrorCode.INVALID_MESSAGE);
      }),
    );
    expectFailure(validateEnvelope({ type: 'user_message' }, MAX), ErrorCode.INVALID_MESSAGE);
  });

  it('should require model_id when the type is model_select', () => {
    expectFailure(validateEnvelope({ type: 'model_select' }, MAX), ErrorCode.INVALID_MESSAGE);
    expectFailure(validateEnvelope({ type: 'model_select', model_id: '' }, MAX), ErrorCode.INVALID_MESSAGE);
    const result = validateEnvelope({ type: 'model_select', model_id: 'gpt' }, MAX);
    expect(result.ok && result.message.model_id).toBe('gpt');
  });

  it('should require session_id when the type is admin_join or admin_leave', () => {
    for (const type of ['admin_join', 'admin_leave']) {
      expectFailure(validateEnvelope({ type }, MAX), ErrorCode.INVALID_MESSAGE);
      const result = validateEnvelope({ type, session_id: 's1' }, MAX);
      expect(result.ok && result.message.session_id).toBe('s1');
    }
  });

  it('should require file_id when the type is file_upload or voice_message', () => {
    for (const type of ['file_upload', 'voice_message']) {
      expectFailure(validateEnvelope({ type }, MAX), ErrorCode.INVALID_MESSAGE);
      expect(validateEnvelope({ type, file_id: 'f1' }, MAX).ok).toBe(true);
    }
  });

  it('should require content when the type is auth_refresh', () => {
    expectFailure(validateEnvelope({ type: 'auth_refresh' }, MAX), ErrorCode.INVALID_MESSAGE);
    expect(validateEnvelope({ type: 'auth_refresh', content: 'a.b.c' }, MAX).ok).toBe(true);
  });

  it('should accept every type without extra fields when the type needs none', () => {
    const bare: ClientMessageType[] = ['help_request', 'typing_indicator', 'new_session', 'stop_generation'];
    for (const type of bare) {
      const result = validateEnvelope({ type }, MAX);
      expect(result.ok && result.message.type).toBe(type);
    }
  });

  it('should tolerate server-set fields when a client echoes a frame', () => {
    const result = validateEnvelope(
      {
        type: 'user_message',
        content: 'hi',
        sender: 'user',
        timestamp: '2024-01-01T00:00:00.000Z',
        seq: 3,
        metadata: { a: 1 },
      },
      MAX,
    );
    expect(result.ok).toBe(true);
  });
});

// JSON with every character past ASCII escaped (as json.dumps with ensure_ascii, its default)
function asciiJson(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

describe(acceptedFrameBytes.name, () => {
  it('should take any message of MAX_MESSAGE_LENGTH characters with its envelope, whatever the characters', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4000 }),
        // the worst cases repeated to the limit (a control character is written \u0001: 6 bytes), or
        // any text at all
        fc.oneof(
          fc
            .constantFrom('\u0001', '\ud800', '"', '😀', 'é', 'a')
            .map((unit) => (length: number) => unit.repeat(length)),
          fc.string({ unit: 'binary', maxLength: 4000, size: 'max' }).map((text) => () => text),
        ),
        fc.string({ maxLength: 128 }),
        (maxMessageLength, make, clientId) => {
          const content = [...make(maxMessageLength)].slice(0, maxMessageLength).join('');
          const frame = JSON.stringify({ type: 'user_message', client_id: clientId, content });
          const bound = acceptedFrameBytes({ maxPayloadBytes: 1024, maxMessageLength });
          expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(bound);
          // and written as Python's json.dumps writes it by default: every character past ASCII as
          // \uXXXX, one past U+FFFF as two (the text-limits audit of session 41: 6,000 emoji so were
          // refused MESSAGE_TOO_LONG at MAX_MESSAGE_LENGTH=6000)
          expect(Buffer.byteLength(asciiJson(frame))).toBeLessThanOrEqual(bound);
        },
      ),
    );
  });
});

describe('parseClientFrame against hostile input (issue: one 56-byte frame stopped the server)', () => {
  const refused = (raw: string) => {
    let result: ParseResult | undefined;
    expect(() => (result = parseClientFrame(raw, MAX))).not.toThrow();
    expectFailure(result!, ErrorCode.INVALID_MESSAGE);
  };

  it('should refuse a constructor key inside metadata instead of throwing', () => {
    refused('{"type":"typing_indicator","metadata":{"constructor":1}}');
  });

  it('should refuse constructor keys inside model_id, seq, error and metadata.constructor.prototype', () => {
    refused('{"type":"model_select","model_id":{"constructor":1}}');
    refused('{"type":"typing_indicator","seq":[{"constructor":1}]}');
    refused('{"type":"typing_indicator","error":{"constructor":{}}}');
    refused('{"type":"typing_indicator","metadata":{"constructor":{"prototype":{}}}}');
    refused('{"type":"typing_indicator","metadata":{"__proto__":{"polluted":1}}}');
  });

  it('should refuse frames nested 6,000 to 10,000 levels deep instead of overflowing the stack', () => {
    for (const depth of [6_000, 10_000]) {
      refused(`{"type":"typing_indicator","metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`);
      refused(`{"type":"typing_indicator","metadata":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
    }
  });

  it('should answer every hostile frame with one well-formed result and never throw', () => {
    fc.assert(
      fc.property(hostileFrame, (raw) => {
        expectWellFormed(parseClientFrame(raw, MAX));
      }),
      { numRuns: 3000 },
    );
  });

  it('should leave Object.prototype untouched whatever the frame', () => {
    fc.assert(
      fc.property(hostileFrame, (raw) => {
        parseClientFrame(raw, MAX);
        expect(Object.keys(Object.prototype)).toEqual([]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseClientFrame and the ClientMessage type it promises', () => {
  const REQUIRED: Record<string, string | undefined> = {
    user_message: 'content',
    auth_refresh: 'content',
    model_select: 'model_id',
    file_upload: 'file_id',
    voice_message: 'file_id',
    admin_join: 'session_id',
    admin_leave: 'session_id',
  };

  it('should only accept a message whose type-specific required field is a non-empty string', () => {
    const envelope = fc.record(
      {
        type: fc.constantFrom(...CLIENT_MESSAGE_TYPES),
        content: fc.string({ maxLength: 10 }),
        model_id: fc.string({ maxLength: 10 }),
        file_id: fc.string({ maxLength: 10 }),
        session_id: fc.string({ maxLength: 10 }),
        client_id: fc.string({ maxLength: 10 }),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(envelope, (data) => {
        const result = parseClientFrame(JSON.stringify(data), MAX);
        if (!result.ok) return;
        const field = REQUIRED[result.message.type];
        if (field === undefined) return;
        const value = (result.message as unknown as Record<string, unknown>)[field];
        expect(typeof value).toBe('string');
        expect((value as string).length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('invalidField', () => {
  const anyValue = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 140 }),
    fc.string({ unit: 'grapheme', maxLength: 70 }),
    fc.constantFrom(...CLIENT_MESSAGE_TYPES, '', 'USER_MESSAGE', '\uFE0F'.repeat(20) + 'x'.repeat(60)),
    fc.integer({ min: -5, max: 5 }),
    fc.double(),
    fc.boolean(),
    fc.constant(undefined),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  );
  const envelope = fc.record(
    Object.fromEntries(CLIENT_ENVELOPE_FIELDS.map((field) => [field, anyValue])) as Record<
      (typeof CLIENT_ENVELOPE_FIELDS)[number],
      fc.Arbitrary<unknown>
    >,
    { requiredKeys: [] },
  );

  it("names the first field validateSync names, for any envelope (the DTO's rules, run directly)", () => {
    fc.assert(
      fc.property(envelope, (record) => {
        const message = new ClientEnvelopeDto();
        Object.assign(message, record);
        const [first] = validateSync(message, {
          whitelist: true,
          forbidNonWhitelisted: true,
          stopAtFirstError: true,
        });
        expect(invalidField(message)).toBe(first?.property);
      }),
      { numRuns: 2000 },
    );
  });
});

import fc from 'fast-check';
import { ErrorCode } from '../../common/errors/error-code';
import { isReactionEmoji } from '../../protocol/reaction-emoji';
import { ROOM_CLIENT_TYPES, ROOM_ENVELOPE_FIELDS } from '../../protocol/rooms';
import { validateRoomFrame } from './room-frame-parser';

const MAX = 4096;
const json = fc.jsonValue({ maxDepth: 4 });

describe('validateRoomFrame', () => {
  it('should never throw, whatever the value, and always answer ok or a known error code', () => {
    const codes = new Set(Object.values(ErrorCode));
    fc.assert(
      fc.property(
        fc.oneof(
          json,
          fc.dictionary(fc.constantFrom(...ROOM_ENVELOPE_FIELDS, '__proto__', 'constructor', 'x'), json),
          fc.record(
            {
              type: fc.constantFrom(...ROOM_CLIENT_TYPES, 'user_message', 'nope'),
              room_id: fc.oneof(fc.string({ maxLength: 140 }), json),
              message_id: fc.oneof(fc.string(), json),
              content: fc.oneof(fc.string({ maxLength: 50 }), json),
              metadata: json,
              seq: fc.oneof(fc.integer(), json),
              last_seq: fc.oneof(fc.integer(), json),
              client_id: fc.oneof(fc.string(), json),
            },
            { requiredKeys: ['type'] },
          ),
        ),
        (value) => {
          const result = validateRoomFrame(value, MAX);
          if (!result.ok) expect(codes.has(result.code)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('should accept every well-formed chat frame and keep its fields as sent', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 128 }),
        fc.string({ minLength: 1, maxLength: 300 }).filter((text) => text.trim().length > 0),
        fc.option(fc.string({ maxLength: 128 }), { nil: undefined }),
        (roomId, content, clientId) => {
          const frame = {
            type: 'chat',
            room_id: roomId,
            content,
            ...(clientId !== undefined ? { client_id: clientId } : {}),
          };
          const result = validateRoomFrame(frame, MAX);
          expect(result).toEqual({ ok: true, frame });
        },
      ),
    );
  });

  it('should refuse content past the limit in code points, with MESSAGE_TOO_LONG, and accept it at the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.constantFrom('a', '😀', 'é'), (limit, unit) => {
        const at = validateRoomFrame({ type: 'chat', room_id: 'r', content: unit.repeat(limit) }, limit);
        expect(at.ok).toBe(true);
        const past = validateRoomFrame(
          { type: 'chat', room_id: 'r', content: unit.repeat(limit + 1), client_id: 'c' },
          limit,
        );
        expect(past).toMatchObject({
          ok: false,
          code: ErrorCode.MESSAGE_TOO_LONG,
          client_id: 'c',
          room_id: 'r',
        });
      }),
    );
  });

  it('should refuse unknown fields and types, missing room ids, and prototype keys at any depth', () => {
    const refused = [
      { type: 'chat', room_id: 'r', content: 'x', extra: 1 },
      { type: 'shout', room_id: 'r' },
      { room_id: 'r' },
      { type: 'chat', content: 'x' },
      { type: 'join' },
      { type: 'edit', room_id: 'r', content: 'x' },
      { type: 'react', room_id: 'r', message_id: 'm', content: 'x'.repeat(40) },
      { type: 'react', room_id: 'r', message_id: 'm', content: 'visit spam.example now' },
      { type: 'react', room_id: 'r', message_id: 'm', content: '👍👍' },
      { type: 'react', room_id: 'r', message_id: 'm', content: '👍', metadata: { remove: 'yes' } },
      { type: 'typing', room_id: 'r' },
      { type: 'read', room_id: 'r' },
      { type: 'read', room_id: 'r', seq: 1.5 },
      { type: 'join', room_id: 'r', last_seq: -1 },
      { type: 'heartbeat', metadata: { status: 'busy' } },
      { type: 'chat', room_id: 'r', content: 'x', metadata: [] },
      { type: 'chat', room_id: 'r', content: 'x', metadata: { reply_to: 5 } },
      { type: 'chat', room_id: 'r'.repeat(129), content: 'x' },
      { type: 'ai_stop', room_id: 'r' },
      { type: 'ai_stop', message_id: 'reply-1' },
      { type: 'ai_stop', room_id: 'r', message_id: 7 },
      JSON.parse('{"type":"chat","room_id":"r","content":"x","metadata":{"a":{"__proto__":{}}}}'),
    ];
    for (const frame of refused)
      expect(validateRoomFrame(frame, MAX)).toMatchObject({ ok: false, code: ErrorCode.INVALID_MESSAGE });
  });

  it('should accept each type in its minimal form', () => {
    const accepted = [
      { type: 'join', room_id: 'r', last_seq: 0 },
      { type: 'leave', room_id: 'r' },
      { type: 'edit', room_id: 'r', message_id: 'm', content: 'x' },
      { type: 'delete', room_id: 'r', message_id: 'm' },
      { type: 'react', room_id: 'r', message_id: 'm', content: '👍', metadata: { remove: true } },
      { type: 'typing', room_id: 'r', metadata: { typing: false } },
      { type: 'read', room_id: 'r', seq: 3 },
      { type: 'heartbeat' },
      { type: 'heartbeat', metadata: { status: 'away' } },
      { type: 'chat', room_id: 'r', content: 'x', metadata: { reply_to: 'm' } },
      { type: 'ai_stop', room_id: 'r', message_id: 'reply-1', client_id: 'c' },
    ];
    for (const frame of accepted) expect(validateRoomFrame(frame, MAX).ok).toBe(true);
  });

  it('should accept an ai_stop exactly when it names a room and a reply, keeping its fields as sent', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
        fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
        (roomId, messageId) => {
          const frame = {
            type: 'ai_stop',
            ...(roomId !== undefined ? { room_id: roomId } : {}),
            ...(messageId !== undefined ? { message_id: messageId } : {}),
          };
          const result = validateRoomFrame(frame, MAX);
          if (roomId !== undefined && messageId !== undefined) expect(result).toEqual({ ok: true, frame });
          else expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_MESSAGE });
        },
      ),
    );
  });

  it('should accept a reaction exactly when its content is one emoji, keeping its fields as sent', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme', maxLength: 3 }),
          fc.constantFrom('👍', '❤️', '😂', '🇺🇸', '1️⃣', '👨‍👩‍👧‍👦', 'ok', '👍 ', 'a'.repeat(32)),
        ),
        fc.boolean(),
        (content, remove) => {
          const frame = { type: 'react', room_id: 'r', message_id: 'm', content, metadata: { remove } };
          const result = validateRoomFrame(frame, MAX);
          if (isReactionEmoji(content)) expect(result).toEqual({ ok: true, frame });
          else expect(result).toMatchObject({ ok: false, code: ErrorCode.INVALID_MESSAGE });
        },
      ),
      { numRuns: 1000 },
    );
  });
});

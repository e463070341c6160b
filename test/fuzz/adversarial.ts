import fc from 'fast-check';
import { CLIENT_ENVELOPE_FIELDS, CLIENT_MESSAGE_TYPES } from '../../src/protocol/frames';
import { ROOM_CLIENT_TYPES, ROOM_ENVELOPE_FIELDS } from '../../src/protocol/rooms';

// Adversarial frames as an attacker sends them: prototype keys anywhere, deep nesting, huge
// numbers, wrong types, unicode, nulls, mutated real envelopes. Shared by the unit properties,
// the gateway fuzz test (npm test) and the long run (npm run fuzz).

export const CLIENT_TYPES: readonly string[] = CLIENT_MESSAGE_TYPES;
const FIELDS: readonly string[] = CLIENT_ENVELOPE_FIELDS;
const NASTY_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '$where',
  '$ne',
];

const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
);
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.1, 1e-320),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(...CLIENT_TYPES),
);

// A JSON value with adversarial keys at any depth (as text: `__proto__` survives only in text).
export const adversarialValue: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar.map((v) => JSON.stringify(v)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(key, tie('value')), { maxLength: 5 })
      .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

// Deep nesting (objects or arrays), under the frame size limit.
export const deepFrame: fc.Arbitrary<string> = fc
  .record({
    depth: fc.integer({ min: 20, max: 10_000 }),
    array: fc.boolean(),
    field: fc.constantFrom('metadata', 'error', 'content', 'seq', 'model_id'),
    type: fc.constantFrom(...CLIENT_TYPES),
  })
  .map(({ depth, array, field, type }) => {
    const open = array ? '['.repeat(depth) : '{"a":'.repeat(depth);
    const close = array ? ']'.repeat(depth) : '}'.repeat(depth);
    return `{"type":${JSON.stringify(type)},${JSON.stringify(field)}:${open}1${close}}`;
  });

// A real-looking envelope with one field replaced by something hostile.
export const mutatedEnvelope: fc.Arbitrary<string> = fc
  .record({
    type: fc.constantFrom(...CLIENT_TYPES),
    field: fc.constantFrom(...FIELDS),
    value: adversarialValue,
    clientId: fc.string({ maxLength: 20 }),
  })
  .map(
    ({ type, field, value, clientId }) =>
      `{"type":${JSON.stringify(type)},"client_id":${JSON.stringify(clientId)},${JSON.stringify(field)}:${value}}`,
  );

// Anything a client could send as a text frame.
export const hostileFrame: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: mutatedEnvelope },
  { weight: 3, arbitrary: adversarialValue.map((v) => `{"type":"typing_indicator","metadata":${v}}`) },
  { weight: 2, arbitrary: adversarialValue },
  { weight: 1, arbitrary: deepFrame },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
);

// What a room fuzz aims at: a public room its sockets may join, a message in it, and a user to open a
// direct message with.
export interface RoomTargets {
  roomId: string;
  messageId: string;
  userId: string;
}

const ROOM_TYPES: readonly string[] = ROOM_CLIENT_TYPES;
const ROOM_FIELDS: readonly string[] = ROOM_ENVELOPE_FIELDS;

// Room frames as an attacker sends them on /ws/chat: well-formed frames aimed at a real room and a
// real message with hostile contents (so membership, seq, edits, reactions, reads, direct messages
// and @ai run on them), real-looking ones with one field hostile, and anything at all.
export function hostileRoomFrame(targets: RoomTargets): fc.Arbitrary<string> {
  const roomId = fc.oneof(
    { weight: 4, arbitrary: fc.constant(targets.roomId) },
    { weight: 1, arbitrary: fc.constant(`@${targets.userId}`) },
    { weight: 1, arbitrary: fc.constantFrom('@', '@@', ...NASTY_KEYS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  const messageId = fc.oneof(
    { weight: 3, arbitrary: fc.constant(targets.messageId) },
    { weight: 1, arbitrary: fc.constantFrom(...NASTY_KEYS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  const text = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('@ai hello', '👍', '\u0000', ' ', '🏳️‍🌈'.repeat(20), 'x'.repeat(5_000)),
  );
  const whole = fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.constantFrom(0, 2 ** 53 - 1, 2 ** 31));
  // mostly what the field takes, so most frames get past the parser to the handlers
  const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
    fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });
  const metadata = fc.record(
    {
      reply_to: mostly(messageId, fc.integer()),
      remove: mostly(fc.boolean(), fc.constant('yes')),
      typing: mostly(fc.boolean(), fc.constant(1)),
      status: mostly(fc.constantFrom('online', 'away'), fc.constantFrom('offline', 'busy')),
    },
    { requiredKeys: [] },
  );
  const aimed = fc
    .record(
      {
        type: fc.constantFrom(...ROOM_TYPES),
        room_id: roomId,
        message_id: messageId,
        content: text,
        seq: whole,
        last_seq: whole,
        metadata,
        client_id: fc.string({ maxLength: 20 }),
        file_id: mostly(fc.constant(undefined), fc.string({ maxLength: 20 })),
      },
      { requiredKeys: ['type', 'room_id', 'message_id', 'content', 'client_id'] },
    )
    .map((frame) => JSON.stringify(frame));
  const mutated = fc
    .record({
      type: fc.constantFrom(...ROOM_TYPES),
      field: fc.oneof(fc.constantFrom(...ROOM_FIELDS), fc.constantFrom(...NASTY_KEYS)),
      value: adversarialValue,
      clientId: fc.string({ maxLength: 20 }),
    })
    .map(({ type, field, value, clientId }) => {
      const base = `"type":${JSON.stringify(type)},"room_id":${JSON.stringify(targets.roomId)},"message_id":${JSON.stringify(targets.messageId)},"client_id":${JSON.stringify(clientId)}`;
      return `{${base},${JSON.stringify(field)}:${value}}`;
    });
  return fc.oneof(
    { weight: 5, arbitrary: aimed },
    { weight: 3, arbitrary: mutated },
    { weight: 1, arbitrary: adversarialValue },
    { weight: 1, arbitrary: deepFrame.map((frame) => frame.replace(/^\{"type":"[^"]*"/, '{"type":"chat"')) },
  );
}

// AI chat frames as a hostile admin sends them, aimed at a real user's session: takeovers and
// releases from several admins at once, replies, stops, edits and regenerations, with hostile
// contents and ids (so the lease, the takeover hand-off and the record path run on them).
export function hostileAdminFrame(sessionId: string): fc.Arbitrary<string> {
  const text = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom(' ', '\u0000', 'x'.repeat(5_000), 'reply from an admin'),
  );
  const aimed = fc
    .record(
      {
        type: fc.constantFrom(
          'admin_join',
          'admin_join',
          'admin_leave',
          'user_message',
          'user_message',
          'stop_generation',
          'typing_indicator',
          'read',
          'regenerate',
          'edit_message',
          'help_request',
          'new_session',
        ),
        session_id: fc.oneof(
          { weight: 5, arbitrary: fc.constant(sessionId) },
          { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
        ),
        content: text,
        client_id: fc.string({ maxLength: 20 }),
        id: fc.string({ maxLength: 20 }),
        seq: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(2 ** 53 - 1)),
        metadata: fc.record({ typing: fc.boolean() }, { requiredKeys: [] }),
      },
      { requiredKeys: ['type', 'session_id', 'client_id'] },
    )
    .map((frame) => JSON.stringify(frame));
  return fc.oneof(
    { weight: 6, arbitrary: aimed },
    { weight: 2, arbitrary: mutatedEnvelope },
    { weight: 1, arbitrary: adversarialValue },
  );
}

import fc from 'fast-check';
import { CLIENT_ENVELOPE_FIELDS, CLIENT_MESSAGE_TYPES } from '../../src/protocol/frames';

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

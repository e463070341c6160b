import { getMetadataStorage, validateSync, ValidationTypes } from 'class-validator';
import { ErrorCode } from '../../common/errors/error-code';
import { codePointLength } from '../../common/code-points';
import { untrustedJsonProblem } from '../../common/untrusted-json';
import { given } from '../../common/http/optional-field';
import { CLIENT_ENVELOPE_FIELDS, type ClientMessage } from '../../protocol/frames';
import { ClientEnvelopeDto } from './dto/client-envelope.dto';

export type ParseResult =
  { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; message: string; client_id?: string };

const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(CLIENT_ENVELOPE_FIELDS);
const NEEDS_CONTENT = new Set(['user_message', 'auth_refresh', 'edit_message']);
const NEEDS_ID = new Set(['edit_message', 'reply_select', 'read']);
const TEXT_MESSAGES = new Set(['user_message', 'edit_message']);
const NEEDS_MODEL = new Set(['model_select']);
const NEEDS_FILE = new Set(['file_upload', 'voice_message']);
const NEEDS_SESSION = new Set(['admin_join', 'admin_leave']);

// The envelope's class-validator rules (ClientEnvelopeDto, their one definition) read once into a
// plain list per field and run as plain calls: validateSync builds its executor, groups the
// metadata and makes error objects on every frame (~0.2 ms and 30 KB per user message in
// bench/README.md's profile). Same checks, same order, same first failing field; a rule of any
// other kind (none today) sends every frame through validateSync instead.
interface FieldRules {
  property: string;
  optional: boolean;
  checks: ((value: unknown) => boolean)[];
}

function compileEnvelopeRules(): FieldRules[] | undefined {
  const storage = getMetadataStorage();
  const fields = new Map<string, FieldRules>();
  for (const rule of storage.getTargetValidationMetadatas(ClientEnvelopeDto, '', true, false)) {
    if (rule.each || rule.groups?.length || rule.always) return undefined;
    let field = fields.get(rule.propertyName);
    if (!field)
      fields.set(rule.propertyName, (field = { property: rule.propertyName, optional: false, checks: [] }));
    if (rule.type === ValidationTypes.CONDITIONAL_VALIDATION) {
      // Optional() (or IsOptional): skipped when left out (null never reaches here)
      if (rule.constraints?.[0] !== given && rule.name !== 'isOptional') return undefined;
      field.optional = true;
    } else if (rule.type === ValidationTypes.CUSTOM_VALIDATION) {
      const [constraint] = storage.getTargetValidatorConstraints(rule.constraintCls);
      if (!constraint || constraint.async) return undefined;
      const validator = constraint.instance as {
        validate(value: unknown, args: { constraints: unknown[]; property: string }): boolean;
      };
      const args = { constraints: rule.constraints, property: rule.propertyName };
      field.checks.push((value) => validator.validate(value, args as never) === true);
    } else return undefined;
  }
  return [...fields.values()];
}

const ENVELOPE_RULES = compileEnvelopeRules();
// whether every frame's fields are checked by the compiled rules (a test holds it: a decorator the
// compiler does not know sends every frame through validateSync, slower and silently)
export const envelopeRulesCompiled = ENVELOPE_RULES !== undefined;

// the first field that breaks its rules, in the DTO's order (validateSync's with stopAtFirstError)
export function invalidField(message: ClientEnvelopeDto): string | undefined {
  if (!ENVELOPE_RULES) {
    const errors = validateSync(message, {
      whitelist: true,
      forbidNonWhitelisted: true,
      stopAtFirstError: true,
    });
    return errors[0]?.property;
  }
  const record = message as unknown as Record<string, unknown>;
  for (const field of ENVELOPE_RULES) {
    const value = record[field.property];
    if (field.optional && (value === undefined || value === null)) continue;
    for (const check of field.checks) if (!check(value)) return field.property;
  }
  return undefined;
}

// One frame → a valid client message or a protocol error. Total: never throws, whatever the input
// (docs/protocol.md, "Input limits": depth, entries and prototype keys are checked before mapping).
export function parseClientFrame(raw: string, maxMessageLength: number): ParseResult {
  let data: unknown;
  try {
    // V8's JSON.parse is iterative: deep input does not overflow it; validateEnvelope checks the rest
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'Each frame must be one JSON object.' };
  }
  return validateEnvelope(data, maxMessageLength);
}

export function validateEnvelope(data: unknown, maxMessageLength: number): ParseResult {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'Each frame must be one JSON object.' };
  }
  const record = data as Record<string, unknown>;
  const clientId =
    typeof record.client_id === 'string' && record.client_id.length <= 128 ? record.client_id : undefined;
  const fail = (code: ErrorCode, message: string): ParseResult => ({
    ok: false,
    code,
    message,
    client_id: clientId,
  });

  const unknown = Object.keys(record).find((key) => !ENVELOPE_FIELDS.has(key));
  if (unknown !== undefined)
    return fail(ErrorCode.INVALID_MESSAGE, `Field "${unknown.slice(0, 40)}" is not allowed.`);
  // depth, size and prototype keys inside the fields, before anything maps them
  const problem = untrustedJsonProblem(record);
  if (problem !== undefined) return fail(ErrorCode.INVALID_MESSAGE, problem);
  // no envelope field has a null value: refused here, with the field's name, before any rule
  const nullField = Object.keys(record).find((key) => record[key] === null);
  if (nullField !== undefined)
    return fail(ErrorCode.INVALID_MESSAGE, `Field "${nullField}" must not be null.`);
  // a plain copy of the known fields, no object mapper: nested values stay as JSON.parse made them
  const message = new ClientEnvelopeDto();
  for (const key of Object.keys(record)) (message as unknown as Record<string, unknown>)[key] = record[key];
  const field = invalidField(message);
  if (field !== undefined) {
    if (field === 'type') return fail(ErrorCode.INVALID_MESSAGE, 'Unknown or missing message type.');
    return fail(ErrorCode.INVALID_MESSAGE, `Field "${field}" is not valid.`);
  }
  if (NEEDS_CONTENT.has(message.type)) {
    const content = message.content;
    if (content === undefined || content.trim().length === 0) {
      return fail(ErrorCode.INVALID_MESSAGE, 'Field "content" is required.');
    }
    if (TEXT_MESSAGES.has(message.type) && codePointLength(content, maxMessageLength) > maxMessageLength) {
      return fail(ErrorCode.MESSAGE_TOO_LONG, `Messages are limited to ${maxMessageLength} characters.`);
    }
  } else if (
    message.content !== undefined &&
    codePointLength(message.content, maxMessageLength) > maxMessageLength
  ) {
    return fail(ErrorCode.MESSAGE_TOO_LONG, `Text is limited to ${maxMessageLength} characters.`);
  }
  if (NEEDS_MODEL.has(message.type) && !message.model_id)
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "model_id" is required.');
  if (NEEDS_FILE.has(message.type) && !message.file_id)
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "file_id" is required.');
  if (NEEDS_ID.has(message.type) && !message.id)
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "id" is required.');
  if (NEEDS_SESSION.has(message.type) && !message.session_id) {
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "session_id" is required.');
  }
  // the checks above are exactly what ClientMessage promises per type
  return { ok: true, message: message as unknown as ClientMessage };
}

// The largest frame the gateway parses: room for the longest allowed message as JSON (at most 12
// bytes a code point: one past U+FFFF written as two escapes, \ud83d\ude00, as Python's json.dumps
// writes every one by default) plus the envelope, and never below WS_MAX_PAYLOAD_BYTES. Until the
// text-limits audit of session 41 it allowed 6: with MAX_MESSAGE_LENGTH=6000, 6,000 emoji written so
// were refused MESSAGE_TOO_LONG on /chat/ws and acked on /ws/chat.
export function acceptedFrameBytes(settings: { maxPayloadBytes: number; maxMessageLength: number }): number {
  return Math.max(settings.maxPayloadBytes, settings.maxMessageLength * 12 + 4096);
}

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VALIDATION_MESSAGE_BUDGET } from '../../src/bootstrap';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';

// A field a request may leave out is not a field that takes null (docs/protocol.md, "Bad input"):
// class-validator's IsOptional() passes null as well as a missing field, and the code behind the
// pipe reads a missing field as `undefined`. Found by schemathesis against docs/openapi.json:
// `PATCH /chat/admin/canned-responses/:id {"title": null}` reached `.trim()` (500), `{"text": null}`
// stored a canned response without text, and `PATCH /api/v1/chat/rooms/:id {"name": null}` renamed a
// room to null. Every JSON body the document lists is checked here, field by field.

interface Schema {
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  minLength?: number;
  pattern?: string;
  items?: Schema;
  nullable?: boolean;
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
}
interface Document {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
}

const DOCUMENT = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'docs', 'openapi.json'), 'utf8'),
) as Document;

// a value the field's own rules accept (for the fields a body must carry beside the one under test)
function sample(schema: Schema): unknown {
  if (schema.enum) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((name) => name !== 'null') : schema.type;
  if (type === 'integer' || type === 'number') return schema.minimum ?? 1;
  if (type === 'boolean') return true;
  if (type === 'array') return [];
  if (schema.pattern) return 'ok';
  return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
}

const takesNull = (schema: Schema) =>
  schema.nullable === true || (Array.isArray(schema.type) && schema.type.includes('null'));

interface Case {
  method: string;
  path: string;
  field: string;
  others: Record<string, unknown>;
}

function cases(): Case[] {
  const found: Case[] = [];
  for (const [path, operations] of Object.entries(DOCUMENT.paths))
    for (const [method, operation] of Object.entries(operations)) {
      const json = operation.requestBody?.content['application/json'];
      if (!json?.schema.$ref) continue;
      const schema = DOCUMENT.components.schemas[json.schema.$ref.split('/').pop() as string];
      const required = schema.required ?? [];
      for (const [field, property] of Object.entries(schema.properties ?? {})) {
        if (takesNull(property)) continue;
        const others = Object.fromEntries(
          required
            .filter((name) => name !== field)
            .map((name) => [name, sample(schema.properties?.[name] ?? {})]),
        );
        found.push({ method: method.toUpperCase(), path, field, others });
      }
    }
  return found;
}

describe('null in a field that does not take it (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('null-admin');

  beforeAll(async () => {
    // one user sends every body in a row: its rooms REST budget (ROOM_RATE_LIMIT_MESSAGES_PER_SECOND,
    // checked before validation) would answer 429 before the 400 this suite looks at
    server = await startApp({ ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(() => server.close());

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers: {
        ...authHeaders(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text };
  };

  it('should refuse it with 400 naming the field, in every JSON body the document lists', async () => {
    const all = cases();
    // the document's JSON bodies: sessions, feedback, canned responses, notes, rooms and moderation
    expect(all.length).toBeGreaterThanOrEqual(20);
    const user = userToken(uniqueUser('nulls'));
    const wrong: string[] = [];
    for (const { method, path, field, others } of all) {
      // ids that name nothing: the validation pipe answers before any handler looks them up
      const url = path.replace('{action}', 'mute').replace(/\{[^}]+\}/g, () => randomUUID());
      const token = url.includes('/admin/') ? admin : user;
      const answer = await call(method, url, token, { ...others, [field]: null });
      const refused = answer.status === 400 && answer.body.includes(field);
      if (!refused) wrong.push(`${method} ${path} ${field}: ${answer.status} ${answer.body.slice(0, 120)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('should leave a canned response and a room as they were', async () => {
    const created = await call('POST', '/chat/admin/canned-responses', admin, {
      title: 'Greeting',
      text: 'Hello!',
      shortcut: `n-${randomUUID().slice(0, 8)}`,
    });
    expect(created.status).toBe(201);
    const canned = JSON.parse(created.body) as { id: string };
    for (const field of ['title', 'text', 'shortcut'])
      expect(
        (await call('PATCH', `/chat/admin/canned-responses/${canned.id}`, admin, { [field]: null })).status,
      ).toBe(400);
    const list = JSON.parse((await call('GET', '/chat/admin/canned-responses', admin)).body) as Array<{
      id: string;
      title: string;
      text: string;
    }>;
    expect(list.find((item) => item.id === canned.id)).toMatchObject({ title: 'Greeting', text: 'Hello!' });

    const owner = userToken(uniqueUser('nulls-owner'));
    const room = JSON.parse(
      (await call('POST', '/api/v1/chat/rooms', owner, { name: 'Kept', kind: 'public' })).body,
    ) as { id: string };
    expect((await call('PATCH', `/api/v1/chat/rooms/${room.id}`, owner, { name: null })).status).toBe(400);
    expect(JSON.parse((await call('GET', `/api/v1/chat/rooms/${room.id}`, owner)).body)).toMatchObject({
      name: 'Kept',
    });
    // the one field that takes null still does: the room's model back to the default
    expect((await call('PATCH', `/api/v1/chat/rooms/${room.id}`, owner, { ai_model: null })).status).toBe(
      200,
    );
  });

  it('should answer a body of thousands of unknown fields with a short refusal', async () => {
    const owner = userToken(uniqueUser('nulls-many'));
    const body = Object.fromEntries(
      Array.from({ length: 1_500 }, (_, index) => [`unknown_${index}_${'k'.repeat(20)}`, index]),
    );
    const answer = await call('POST', '/api/v1/chat/rooms', owner, { name: 'Many', kind: 'public', ...body });
    expect(answer.status).toBe(400);
    const { error } = JSON.parse(answer.body) as { error: { code: string; message: string } };
    expect(error.code).toBe('INVALID_MESSAGE');
    expect(error.message).toContain('unknown_0_');
    // the first refusals, and a last part that says more were left out (Nest's words); without the
    // budget, every key with Nest's words about it (~90 KB)
    expect(error.message.length).toBeLessThan(VALIDATION_MESSAGE_BUDGET + 400);
    expect(JSON.stringify(body).length).toBeGreaterThan(50_000);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import type { OpenAPIObject } from '@nestjs/swagger';
import { DOCS_DIR, openApiText } from './generate';
import { REST_CONTROLLERS } from './openapi-app';

// @seriousme/openapi-schema-validator ships ESM only, which jest's CommonJS runtime cannot load:
// it runs in its own node process and prints its verdict
function validate(text: string): { valid: boolean; errors?: unknown } {
  const script = `import { Validator } from '@seriousme/openapi-schema-validator';
    const chunks = []; for await (const chunk of process.stdin) chunks.push(chunk);
    const result = await new Validator().validate(JSON.parse(Buffer.concat(chunks).toString()));
    process.stdout.write(JSON.stringify({ valid: result.valid, errors: result.errors }));`;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { input: text });
  return JSON.parse(output.toString()) as { valid: boolean; errors?: unknown };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface Operation {
  parameters?: { in?: string }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }>; headers?: object }>;
}

interface Route {
  method: string;
  path: string;
  // reads a request body (@Body, or the raw request as uploads do)
  readsBody: boolean;
}

// Every route of the REST controllers, from Nest's own decorator metadata.
function controllerRoutes(): Route[] {
  const routes: Route[] = [];
  const join = (...parts: string[]) =>
    `/${parts
      .flatMap((part) => part.split('/'))
      .filter(Boolean)
      .join('/')}`.replace(/:(\w+)/g, '{$1}');
  for (const controller of REST_CONTROLLERS) {
    const base = (Reflect.getMetadata(PATH_METADATA, controller) as string | undefined) ?? '';
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined) continue;
      const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<
        string,
        unknown
      >;
      const kinds = Object.keys(args).map((key) => Number(key.split(':')[0]));
      const writes = [RequestMethod.POST, RequestMethod.PUT, RequestMethod.PATCH].includes(method);
      routes.push({
        method: RequestMethod[method].toLowerCase(),
        path: join(base, (Reflect.getMetadata(PATH_METADATA, handler) as string | undefined) ?? ''),
        readsBody:
          writes &&
          kinds.some((kind) =>
            [RouteParamtypes.BODY, RouteParamtypes.RAW_BODY, RouteParamtypes.REQUEST].includes(kind),
          ),
      });
    }
  }
  return routes;
}

// One line per route that lacks a documented answer (or a body where it takes one).
function undocumented(document: OpenAPIObject, routes: Route[] = controllerRoutes()): string[] {
  const problems: string[] = [];
  for (const route of routes) {
    const operation = (document.paths[route.path] as Record<string, Operation | undefined> | undefined)?.[
      route.method
    ];
    if (!operation) problems.push(`${route.method.toUpperCase()} ${route.path}: not in the document`);
    else if (
      route.readsBody &&
      !Object.values(operation.requestBody?.content ?? {}).some((media) => media.schema)
    )
      problems.push(`${route.method.toUpperCase()} ${route.path}: reads a body but documents none`);
  }
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method];
      if (!operation) continue;
      const route = `${method.toUpperCase()} ${path}`;
      const answers = Object.entries(operation.responses ?? {}).filter(([status]) => /^[23]/.test(status));
      if (answers.length === 0) problems.push(`${route}: no 2xx/3xx response`);
      for (const [status, answer] of answers) {
        const schemas = Object.values(answer.content ?? {}).filter((media) => media.schema);
        // a redirect is documented by its Location header; 204 No Content has no body to describe
        if (status === '204') {
          if (schemas.length > 0) problems.push(`${route}: response 204 documents a body`);
        } else if (status.startsWith('3') ? !answer.headers : schemas.length === 0)
          problems.push(`${route}: response ${status} has no schema`);
      }
    }
  }
  return problems;
}

describe('OpenAPI document', () => {
  let text: string;
  let document: OpenAPIObject;

  beforeAll(async () => {
    text = await openApiText();
    document = JSON.parse(text) as OpenAPIObject;
  });

  it('should be valid OpenAPI 3.1', () => {
    expect(document.openapi).toBe('3.1.0');
    const result = validate(text);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('should give every route a response schema, and a body schema where it reads one', () => {
    expect(Object.keys(document.paths).length).toBeGreaterThanOrEqual(12);
    expect(undocumented(document)).toEqual([]);
  });

  it('should find every route of the controllers, and which read a body', () => {
    const routes = controllerRoutes();
    expect(routes.length).toBe(Object.values(document.paths).flatMap((item) => Object.keys(item)).length);
    expect(
      routes
        .filter((route) => route.readsBody)
        .map((route) => `${route.method.toUpperCase()} ${route.path}`)
        .sort(),
    ).toEqual([
      'PATCH /api/v1/chat/rooms/{id}',
      'PATCH /chat/admin/canned-responses/{id}',
      'PATCH /chat/sessions/{id}',
      'POST /api/v1/chat/blocks',
      'POST /api/v1/chat/dms',
      'POST /api/v1/chat/rooms',
      'POST /api/v1/chat/rooms/{id}/invite',
      'POST /api/v1/chat/rooms/{id}/messages/{messageId}/report',
      'POST /api/v1/chat/rooms/{id}/moderation/{action}',
      'POST /api/v1/chat/rooms/{id}/moderators',
      'POST /chat/admin/canned-responses',
      'POST /chat/admin/sessions/{id}/notes',
      'POST /chat/sessions/{id}/csat',
      'POST /chat/uploads',
      'PUT /chat/sessions/{id}/messages/{messageId}/feedback',
    ]);
  });

  it('should fail the check when a route has no schema, no body or is left out', () => {
    const broken = structuredClone(document);
    (broken.paths['/chat/models'].get as Operation).responses = { '200': { description: 'x' } } as never;
    delete (broken.paths['/chat/uploads'].post as Operation).requestBody;
    delete broken.paths['/chat/healthz'];
    delete (broken.paths['/api/v1/chat/rooms'].post as Operation).requestBody;
    (broken.paths['/chat/sessions/{id}'].delete as Operation).responses = {
      '204': { content: { 'application/json': { schema: { type: 'string' } } } },
    } as never;
    expect(undocumented(broken).sort()).toEqual([
      'DELETE /chat/sessions/{id}: response 204 documents a body',
      'GET /chat/healthz: not in the document',
      'GET /chat/models: response 200 has no schema',
      'POST /api/v1/chat/rooms: reads a body but documents none',
      'POST /chat/uploads: reads a body but documents none',
    ]);
  });

  // Found by schemathesis (`--checks all`): answers the document did not list. A route that reads a
  // body or a query parameter it checks answers 400 when they are wrong, and says so.
  it('should list 400 for every route that reads a body or checks a query parameter', () => {
    // query parameters read leniently, never answered with 400
    const lenient = new Set([
      'GET /chat/files/{file_id}', // `redirect`: anything but false redirects
      'GET /chat/blob', // `signed`: a link that is not valid is 403
    ]);
    const missing: string[] = [];
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
        const name = `${method.toUpperCase()} ${path}`;
        const query = (operation.parameters ?? []).some(
          (parameter) => 'in' in parameter && parameter.in === 'query',
        );
        if ((operation.requestBody || (query && !lenient.has(name))) && !operation.responses?.['400'])
          missing.push(name);
      }
    expect(missing).toEqual([]);
  });

  it('should close every JSON body to fields its DTO does not declare', () => {
    const schemas = (document.components?.schemas ?? {}) as Record<
      string,
      { additionalProperties?: unknown }
    >;
    const open: string[] = [];
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
        const schema = operation.requestBody?.content?.['application/json']?.schema as
          { $ref?: string } | undefined;
        if (!schema) continue;
        const name = schema.$ref?.split('/').pop();
        if (name === undefined || schemas[name]?.additionalProperties !== false)
          open.push(`${method.toUpperCase()} ${path}`);
      }
    expect(open).toEqual([]);
  });

  // Every length a request's text is held to is published, as JSON Schema counts it: in code points,
  // which is what the server counts too (CodePointLength; docs/protocol.md, "Text cut or named"). A
  // string with no bound, enum, pattern or format is one a client cannot size.
  it('should publish a bound for every string a request body or query parameter takes', () => {
    type Schema = {
      type?: unknown;
      maxLength?: number;
      enum?: unknown;
      pattern?: string;
      format?: string;
      items?: Schema;
    };
    const schemas = (document.components?.schemas ?? {}) as Record<
      string,
      { properties?: Record<string, Schema> }
    >;
    // an opaque cursor, checked against SESSION_CURSOR
    const checkedElsewhere = new Set(['GET /chat/sessions before']);
    const unbounded: string[] = [];
    const check = (name: string, schema: Schema | undefined) => {
      if (schema?.type === 'array') return check(`${name}[]`, schema.items);
      const text =
        schema?.type === 'string' || (Array.isArray(schema?.type) && schema.type.includes('string'));
      if (text && schema?.maxLength === undefined && !schema?.enum && !schema?.pattern && !schema?.format)
        if (!checkedElsewhere.has(name)) unbounded.push(name);
    };
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(item as Record<string, Operation>)) {
        const route = `${method.toUpperCase()} ${path}`;
        for (const parameter of (operation.parameters ?? []) as {
          in?: string;
          name?: string;
          schema?: Schema;
        }[])
          if (parameter.in === 'query') check(`${route} ${parameter.name}`, parameter.schema);
        const reference = (operation.requestBody?.content?.['application/json']?.schema as { $ref?: string })
          ?.$ref;
        const body = reference === undefined ? undefined : schemas[reference.split('/').pop() as string];
        for (const [field, schema] of Object.entries(body?.properties ?? {}))
          check(`${route} ${field}`, schema);
      }
    expect(unbounded).toEqual([]);
  });

  it('should list 403 for a signed link that is not valid', () => {
    expect((document.paths['/chat/blob'].get as Operation).responses?.['403']).toBeDefined();
  });

  it('should match docs/openapi.json (run `npm run docs` after changing a route)', () => {
    expect(readFileSync(join(DOCS_DIR, 'openapi.json'), 'utf8')).toBe(text);
  });
});

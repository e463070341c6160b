import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { OpenAPIObject } from '@nestjs/swagger';
import { DOCS_DIR, openApiText } from './generate';

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
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }>; headers?: object }>;
}

// One line per route that lacks a documented answer (or a body where it takes one).
function undocumented(document: OpenAPIObject): string[] {
  const problems: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = (item as Record<string, Operation | undefined>)[method];
      if (!operation) continue;
      const route = `${method.toUpperCase()} ${path}`;
      const answers = Object.entries(operation.responses ?? {}).filter(([status]) => /^[23]/.test(status));
      if (answers.length === 0) problems.push(`${route}: no 2xx/3xx response`);
      for (const [status, answer] of answers) {
        const schemas = Object.values(answer.content ?? {}).filter((media) => media.schema);
        // a redirect is documented by its Location header
        if (status.startsWith('3') ? !answer.headers : schemas.length === 0)
          problems.push(`${route}: response ${status} has no schema`);
      }
      if (method === 'post' && path.endsWith('/uploads') && !operation.requestBody?.content)
        problems.push(`${route}: no request body`);
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

  it('should give every route a response schema and uploads a body', () => {
    expect(Object.keys(document.paths).length).toBeGreaterThanOrEqual(12);
    expect(undocumented(document)).toEqual([]);
  });

  it('should fail the check when a route has no schema', () => {
    const broken = structuredClone(document);
    (broken.paths['/chat/models'].get as Operation).responses = { '200': { description: 'x' } } as never;
    expect(undocumented(broken)).toEqual(['GET /chat/models: response 200 has no schema']);
  });

  it('should match docs/openapi.json (run `npm run docs` after changing a route)', () => {
    expect(readFileSync(join(DOCS_DIR, 'openapi.json'), 'utf8')).toBe(text);
  });
});

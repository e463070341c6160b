import type { OpenAPIObject } from '@nestjs/swagger';
import { closedBodies } from './openapi-document';

describe(closedBodies.name, () => {
  it('should close JSON bodies and say a route that takes one answers 415 to anything else', () => {
    const document = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {
        '/a': {
          patch: {
            requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/A' } } } },
            responses: { '200': { description: 'ok' } },
          },
          get: { responses: { '200': { description: 'ok' } } },
        },
        '/upload': {
          post: {
            requestBody: { content: { 'multipart/form-data': { schema: { type: 'object' } } } },
            responses: { '415': { description: 'UNSUPPORTED_FILE_TYPE' } },
          },
        },
      },
      components: { schemas: { A: { type: 'object', properties: { name: { type: 'string' } } } } },
    } as unknown as OpenAPIObject;
    const closed = closedBodies(document) as unknown as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      components: { schemas: Record<string, { additionalProperties?: boolean }> };
    };
    expect(closed.components.schemas.A.additionalProperties).toBe(false);
    expect(closed.paths['/a'].patch.responses['415'].description).toContain('UNSUPPORTED_MEDIA_TYPE');
    expect(closed.paths['/a'].get.responses['415']).toBeUndefined();
    expect(closed.paths['/upload'].post.responses['415'].description).toBe('UNSUPPORTED_FILE_TYPE');
  });
});

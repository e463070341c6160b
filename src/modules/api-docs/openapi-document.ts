import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

// The OpenAPI 3.1 document of every REST route, from the controllers and their DTOs. @nestjs/swagger
// writes 3.0; toOpenApi31 turns its few 3.0-only forms (nullable) into JSON Schema 2020-12.
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('chatbox')
    .setDescription(
      'REST API of the chatbox service (CONTRACT §3), rooms under /api/v1/chat. The WebSocket ' +
        'protocol at /chat/ws and /ws/chat is in docs/asyncapi.yaml. Every route but health, metrics and signed blobs needs ' +
        '`Authorization: Bearer <jwt>` signed by the parent app; errors are `{error: {code, message}}`. ' +
        "A user's requests beyond REQUESTS_AT_ONCE_PER_USER running and 64 waiting on an instance are " +
        'answered 429 RATE_LIMITED with Retry-After (any route).',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  return closedBodies(toOpenApi31(SwaggerModule.createDocument(app, config)));
}

// A JSON body with a field its DTO does not declare is refused (the ValidationPipe's
// forbidNonWhitelisted): the document says so with `additionalProperties: false` on each body's schema.
// And a body sent as anything but JSON is refused 415 (docs/protocol.md, "Bad input"): each route
// that takes a JSON body says so too.
export function closedBodies(document: OpenAPIObject): OpenAPIObject {
  const schemas = (document.components?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  for (const item of Object.values(document.paths))
    for (const operation of Object.values(item as Record<string, OperationWithBody>)) {
      const json = operation.requestBody?.content?.['application/json'];
      const ref = json?.schema?.$ref;
      const schema = ref === undefined ? undefined : schemas[ref.split('/').pop() as string];
      if (schema?.type === 'object') schema.additionalProperties = false;
      if (json && operation.responses && !operation.responses['415'])
        operation.responses['415'] = {
          description: 'UNSUPPORTED_MEDIA_TYPE: the body is not application/json',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBodyDto' } } },
        };
    }
  return document;
}

interface OperationWithBody {
  requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> };
  responses?: Record<string, unknown>;
}

export function toOpenApi31(document: OpenAPIObject): OpenAPIObject {
  const converted = { ...(rewrite(document) as OpenAPIObject), openapi: '3.1.0' };
  for (const item of Object.values(converted.paths))
    for (const operation of Object.values(item as Record<string, { responses?: object }>))
      for (const response of Object.values(operation.responses ?? {})) moveResponseSchema(response);
  return converted;
}

// @nestjs/terminus's @HealthCheck() describes its answers with a Swagger 2 `schema` beside
// `content`; OpenAPI 3 keeps schemas under a media type only.
function moveResponseSchema(response: { schema?: unknown; content?: Record<string, unknown> }): void {
  if (response.schema === undefined) return;
  if (!response.content) response.content = { 'application/json': { schema: response.schema } };
  delete response.schema;
}

function rewrite(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewrite);
  if (value === null || typeof value !== 'object') return value;
  const object: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) object[key] = rewrite(child);
  if (object.nullable !== true) {
    delete object.nullable;
    return object;
  }
  delete object.nullable;
  if (typeof object.type === 'string') {
    object.type = [object.type, 'null'];
    if (Array.isArray(object.enum)) object.enum = [...(object.enum as unknown[]), null];
    return object;
  }
  // a $ref or composition: null is one more choice
  return { oneOf: [object, { type: 'null' }] };
}

import { CLIENT_MESSAGE_TYPES, ENVELOPE_STRING_FIELDS } from '../protocol/frames';
import { CLIENT_FRAME_DOCS, type FrameDoc, SERVER_FRAME_DOCS } from './asyncapi-frames';

// docs/asyncapi.yaml: the WebSocket protocol (CONTRACT §2) as AsyncAPI 3, from the protocol
// module's types and the descriptions in asyncapi-frames.ts. From the server's side: it receives
// the client frames and sends the server frames on one channel, /chat/ws.
const FIELD_SCHEMAS: Record<string, object> = {
  ...Object.fromEntries(ENVELOPE_STRING_FIELDS.map((field) => [field, { type: 'string' }])),
  timestamp: { type: 'string', format: 'date-time' },
  sender: { type: 'string', enum: ['user', 'ai', 'admin', 'system'] },
  seq: { type: 'integer', minimum: 1, description: 'per-session order of stored events' },
  client_id: { type: 'string', description: 'chosen by the client; echoed on the ack and on what it causes' },
  metadata: { type: 'object', additionalProperties: true },
  error: { $ref: '#/components/schemas/FrameError' },
};

function payload(type: string, doc: FrameDoc): object {
  const properties: Record<string, object> = { type: { type: 'string', const: type } };
  for (const field of [...(doc.required ?? []), ...(doc.optional ?? [])]) {
    const schema = FIELD_SCHEMAS[field];
    if (!schema) throw new Error(`${type}: no schema for envelope field ${field}`);
    properties[field] = schema;
  }
  if (doc.metadata)
    properties.metadata = {
      type: 'object',
      properties: doc.metadata,
      ...(doc.metadataRequired ? { required: doc.metadataRequired } : {}),
      additionalProperties: true,
    };
  const required = ['type', ...(doc.required ?? []), ...(doc.metadataRequired ? ['metadata'] : [])];
  return { type: 'object', required, properties };
}

export function messageKey(side: 'client' | 'server', type: string): string {
  return `${side}_${type}`;
}

function messages(side: 'client' | 'server', docs: Record<string, FrameDoc>) {
  return Object.fromEntries(
    Object.entries(docs).map(([type, doc]) => [
      messageKey(side, type),
      {
        name: type,
        title: type,
        summary: doc.summary,
        contentType: 'application/json',
        payload: payload(type, doc),
        examples: [{ name: type, payload: doc.example }],
      },
    ]),
  );
}

export function buildAsyncApiDocument(version = '1'): Record<string, unknown> {
  // client frames in the protocol's own order, server frames in the table's
  const client = Object.fromEntries(CLIENT_MESSAGE_TYPES.map((type) => [type, CLIENT_FRAME_DOCS[type]]));
  const components = { client: messages('client', client), server: messages('server', SERVER_FRAME_DOCS) };
  const references = (side: 'client' | 'server') =>
    Object.fromEntries(
      Object.keys(components[side]).map((key) => [key, { $ref: `#/components/messages/${key}` }]),
    );
  const channelMessages = { ...references('client'), ...references('server') };
  const operationMessages = (side: 'client' | 'server') =>
    Object.keys(components[side]).map((key) => ({ $ref: `#/channels/chat/messages/${key}` }));
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'chatbox WebSocket protocol',
      version,
      description:
        'Every frame is one JSON object (the envelope of CONTRACT §2); only `type` is always present. ' +
        'Frames of a session carry `seq`, one more per stored event, so clients detect gaps and resume ' +
        'with `?session_id=…&last_seq=…`. Generated from src/protocol/frames.ts by `npm run docs`.',
    },
    defaultContentType: 'application/json',
    servers: {
      production: {
        host: 'chat.example.com',
        pathname: '/chat/ws',
        protocol: 'wss',
        description: 'Behind TLS (deploy/nginx); the app itself listens on ws:// at PORT.',
        security: [
          { $ref: '#/components/securitySchemes/bearer' },
          { $ref: '#/components/securitySchemes/queryToken' },
        ],
      },
    },
    channels: {
      chat: {
        address: '/chat/ws',
        title: 'The chat socket',
        description:
          'A bad, expired or missing token refuses the upgrade with HTTP 401; an Origin not in ALLOWED_ORIGINS with 403.',
        messages: channelMessages,
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                token: { type: 'string', description: 'the JWT, for clients that cannot set headers' },
                session_id: { type: 'string', description: "resume this session of the user's" },
                last_seq: { type: 'integer', minimum: 0, description: 'replay every event after it first' },
              },
            },
            bindingVersion: '0.1.0',
          },
        },
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive',
        channel: { $ref: '#/channels/chat' },
        summary: 'Frames a client (user or admin) sends.',
        messages: operationMessages('client'),
      },
      sendServerFrames: {
        action: 'send',
        channel: { $ref: '#/channels/chat' },
        summary: 'Frames the server sends.',
        messages: operationMessages('server'),
      },
    },
    components: {
      messages: { ...components.client, ...components.server },
      schemas: {
        FrameError: {
          type: 'object',
          required: ['code', 'message', 'recoverable'],
          properties: {
            code: { type: 'string', examples: ['INVALID_MESSAGE', 'RATE_LIMITED', 'LLM_UNAVAILABLE'] },
            message: { type: 'string' },
            recoverable: { type: 'boolean' },
            retry_after: {
              type: 'integer',
              description: 'ms, with RATE_LIMITED and sometimes LLM_UNAVAILABLE',
            },
          },
        },
      },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Authorization header' },
        queryToken: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description: '?token=<jwt> (browsers, webviews)',
        },
      },
    },
  };
}

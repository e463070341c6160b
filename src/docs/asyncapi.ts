import { CLIENT_MESSAGE_TYPES, ENVELOPE_STRING_FIELDS } from '../protocol/frames';
import { ROOM_CLIENT_TYPES, ROOM_ENVELOPE_FIELDS } from '../protocol/rooms';
import { CLIENT_FRAME_DOCS, type FrameDoc, SERVER_FRAME_DOCS } from './asyncapi-frames';
import { ROOM_CLIENT_FRAME_DOCS } from './asyncapi-room-client-frames';
import { ROOM_SERVER_FRAME_DOCS } from './asyncapi-room-server-frames';

// docs/asyncapi.yaml: the WebSocket protocol (CONTRACT §2) as AsyncAPI 3, from the protocol
// modules' types and the descriptions in asyncapi-frames.ts. From the server's side: it receives
// the client frames and sends the server frames. Two channels: /chat/ws (the AI chat, and room
// frames too) and /ws/chat (rooms only, src/protocol/rooms.ts).
const FIELD_SCHEMAS: Record<string, object> = {
  ...Object.fromEntries(ENVELOPE_STRING_FIELDS.map((field) => [field, { type: 'string' }])),
  timestamp: { type: 'string', format: 'date-time' },
  sender: { type: 'string', enum: ['user', 'ai', 'admin', 'system'] },
  seq: { type: 'integer', minimum: 1, description: 'per-session order of stored events' },
  client_id: { type: 'string', description: 'chosen by the client; echoed on the ack and on what it causes' },
  metadata: { type: 'object', additionalProperties: true },
  error: { $ref: '#/components/schemas/FrameError' },
};

// The room envelope (ROOM_ENVELOPE_FIELDS), and file_url, which only the server sends.
const ROOM_FIELD_SCHEMAS: Record<string, object> = {
  ...Object.fromEntries(ROOM_ENVELOPE_FIELDS.map((field) => [field, { type: 'string' }])),
  timestamp: {
    type: 'string',
    format: 'date-time',
    description:
      'when the server made the frame (a stored message: when it was stored); ignored in a client frame',
  },
  user_id: {
    type: 'string',
    description:
      'the user a server frame is about: a message’s sender, who acted, whose presence, whose frame an ack or error answers; ignored in a client frame',
  },
  room_id: { type: 'string', description: 'the room; `@<user_id>` in chat or join: the direct message' },
  seq: { type: 'integer', minimum: 0, description: 'per-room order of stored messages' },
  last_seq: { type: 'integer', minimum: 0, description: 'replay every message after it first' },
  client_id: { type: 'string', description: 'chosen by the client; echoed on the ack' },
  file_url: { type: 'string', description: 'stable /chat/files/:file_id link (members only)' },
  metadata: { type: 'object', additionalProperties: true },
  error: { $ref: '#/components/schemas/FrameError' },
};

function payload(type: string, doc: FrameDoc, fields = FIELD_SCHEMAS): object {
  const properties: Record<string, object> = { type: { type: 'string', const: type } };
  for (const field of [...(doc.required ?? []), ...(doc.optional ?? [])]) {
    const schema = fields[field];
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

// room frames share some type names with the AI chat's (ack, chat's connection_status…)
export function roomMessageKey(side: 'client' | 'server', type: string): string {
  return `room_${side}_${type}`;
}

function messages(side: 'client' | 'server', docs: Record<string, FrameDoc>, room = false) {
  return Object.fromEntries(
    Object.entries(docs).map(([type, doc]) => [
      room ? roomMessageKey(side, type) : messageKey(side, type),
      {
        name: type,
        title: room ? `room ${type}` : type,
        summary: doc.summary,
        contentType: 'application/json',
        payload: payload(type, doc, room ? ROOM_FIELD_SCHEMAS : FIELD_SCHEMAS),
        examples: [{ name: room ? `room_${type}` : type, payload: doc.example }],
      },
    ]),
  );
}

// The room server frames that /chat/ws carries too: all but /ws/chat's own first frame.
const ONLY_ON_ROOM_SOCKET = new Set([roomMessageKey('server', 'connection_status')]);

export function buildAsyncApiDocument(version = '1'): Record<string, unknown> {
  // client frames in the protocol's own order, server frames in the table's
  const client = Object.fromEntries(CLIENT_MESSAGE_TYPES.map((type) => [type, CLIENT_FRAME_DOCS[type]]));
  const roomClient = Object.fromEntries(
    ROOM_CLIENT_TYPES.map((type) => [type, ROOM_CLIENT_FRAME_DOCS[type]]),
  );
  const components = {
    client: messages('client', client),
    server: messages('server', SERVER_FRAME_DOCS),
    roomClient: messages('client', roomClient, true),
    roomServer: messages('server', ROOM_SERVER_FRAME_DOCS, true),
  };
  const references = (keys: string[]) =>
    Object.fromEntries(keys.map((key) => [key, { $ref: `#/components/messages/${key}` }]));
  const roomClientKeys = Object.keys(components.roomClient);
  const roomServerKeys = Object.keys(components.roomServer);
  const chat = {
    client: [...Object.keys(components.client), ...roomClientKeys],
    server: [
      ...Object.keys(components.server),
      ...roomServerKeys.filter((key) => !ONLY_ON_ROOM_SOCKET.has(key)),
    ],
  };
  // /ws/chat: the room frames, and auth_refresh (answered by a room ack) as on /chat/ws; its errors
  // are room errors (the shared error frame in the room envelope)
  const rooms = {
    client: [messageKey('client', 'auth_refresh'), ...roomClientKeys],
    server: roomServerKeys,
  };
  const operationMessages = (channel: 'chat' | 'rooms', keys: string[]) =>
    keys.map((key) => ({ $ref: `#/channels/${channel}/messages/${key}` }));
  // docs/protocol.md, "Shutdown": what a client of either socket meets when an instance drains
  const drain = (resume: string) =>
    'While an instance drains for shutdown (SIGTERM) it closes every socket with 1001 and the reason ' +
    '"server shutting down", and refuses upgrades with HTTP 503 (as one holding MAX_SOCKETS, or without ' +
    'MongoDB) until it exits; a load balancer should try another instance on that 503. The client ' +
    `connects again with backoff (it reaches another instance), ${resume}, then sends again every ` +
    'message not acked, each with its own client_id (stored once, on whatever instance).';
  const wsQuery = (properties: Record<string, object>) => ({
    ws: {
      method: 'GET',
      query: {
        type: 'object',
        properties: {
          token: { type: 'string', description: 'the JWT, for clients that cannot set headers' },
          ...properties,
        },
      },
      bindingVersion: '0.1.0',
    },
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'chatbox WebSocket protocol',
      version,
      description:
        'Every frame is one JSON object (the envelope of CONTRACT §2); only `type` is always present. ' +
        'Frames of a session carry `seq`, one more per stored event, so clients detect gaps and resume ' +
        'with `?session_id=…&last_seq=…`; room frames carry a per-room `seq` the same way. ' +
        'Generated from src/protocol/frames.ts and src/protocol/rooms.ts by `npm run docs`.',
    },
    defaultContentType: 'application/json',
    servers: {
      production: {
        host: 'chat.example.com',
        pathname: '/',
        protocol: 'wss',
        description:
          'Behind TLS (deploy/nginx); the app itself listens on ws:// at PORT. Two sockets: /chat/ws and /ws/chat.',
        security: [
          { $ref: '#/components/securitySchemes/bearer' },
          { $ref: '#/components/securitySchemes/subprotocolToken' },
          { $ref: '#/components/securitySchemes/queryToken' },
        ],
      },
    },
    channels: {
      chat: {
        address: '/chat/ws',
        title: 'The chat socket',
        description:
          'A bad, expired or missing token refuses the upgrade with HTTP 401; an Origin not in ALLOWED_ORIGINS with 403; ' +
          'a user holding MAX_SOCKETS_PER_USER sockets on the instance with 429, an instance holding MAX_SOCKETS with 503, ' +
          "a user connecting more than CONNECT_RATE_PER_USER times a second (three seconds' worth at once) with 429 and Retry-After. " +
          'A frame whose type is a room client type (the room_client_* messages) goes to rooms, everything else ' +
          'is the AI chat; ' +
          'room frames come back as on /ws/chat. ' +
          drain(
            'with ?session_id=…&last_seq=… of its session (the events after last_seq are replayed) and joining its rooms again with their last_seq',
          ),
        messages: references([...chat.client, ...chat.server]),
        bindings: wsQuery({
          session_id: { type: 'string', description: "resume this session of the user's" },
          last_seq: { type: 'integer', minimum: 0, description: 'replay every event after it first' },
        }),
      },
      rooms: {
        address: '/ws/chat',
        title: 'The rooms socket',
        description:
          'Rooms and direct messages only (docs/protocol.md, "Rooms"), authenticated as /chat/ws. The first frame is ' +
          'connection_status; the socket closes with 4401 when the token expires unless auth_refresh replaced it. ' +
          'A frame with an unknown key or a wrong type gets a recoverable error (INVALID_MESSAGE); room errors ' +
          '(NOT_A_MEMBER, BANNED, MUTED, BLOCKED, NOT_FOUND, FORBIDDEN, RATE_LIMITED, …) name the room in room_id. ' +
          'Every server frame carries timestamp (when the server made it), and user_id where it is about a user. ' +
          drain('joining its rooms again with their last_seq (the messages after it are replayed)'),
        messages: references([...rooms.client, ...rooms.server]),
        bindings: wsQuery({}),
      },
    },
    operations: {
      receiveClientFrames: {
        action: 'receive',
        channel: { $ref: '#/channels/chat' },
        summary: 'Frames a client (user or admin) sends.',
        messages: operationMessages('chat', chat.client),
      },
      sendServerFrames: {
        action: 'send',
        channel: { $ref: '#/channels/chat' },
        summary: 'Frames the server sends.',
        messages: operationMessages('chat', chat.server),
      },
      receiveRoomFrames: {
        action: 'receive',
        channel: { $ref: '#/channels/rooms' },
        summary: 'Frames a client sends on the rooms socket.',
        messages: operationMessages('rooms', rooms.client),
      },
      sendRoomFrames: {
        action: 'send',
        channel: { $ref: '#/channels/rooms' },
        summary: 'Frames the server sends on the rooms socket.',
        messages: operationMessages('rooms', rooms.server),
      },
    },
    components: {
      messages: {
        ...components.client,
        ...components.server,
        ...components.roomClient,
        ...components.roomServer,
      },
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
        subprotocolToken: {
          type: 'httpApiKey',
          name: 'Sec-WebSocket-Protocol',
          in: 'header',
          description:
            "`chatbox, bearer.<jwt>` (browsers: new WebSocket(url, ['chatbox', 'bearer.' + jwt])); the server selects `chatbox`",
        },
        queryToken: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description:
            '?token=<jwt> (webviews; lands in proxies’ error logs, so browsers use the subprotocol)',
        },
      },
    },
  };
}

// The "bare ws" baseline: the least a relay with chatbox's contract must do. JWT checked at the
// upgrade, the same JSON envelope, the fake LLM consumed with the official OpenAI SDK exactly as
// chatbox's OpenAiProvider does, one reply at a time per connection, history kept in memory. No
// Nest, no validation, no database, no encryption, no metrics: what remains is the cost of the relay.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { verify } from 'jsonwebtoken';
import OpenAI from 'openai';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { runBareLifecycle } from './bare-lifecycle';

const port = Number(process.env.PORT ?? '0');
const host = process.env.HOST ?? '127.0.0.1';
const secret = required('JWT_SECRET');
const model = required('LLM_MODEL');
const modelId = 'fake';
const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? '60000');
const llm = new OpenAI({ apiKey: 'k', baseURL: required('LLM_ENDPOINT'), timeout: 60_000, maxRetries: 0 });

interface Client {
  socket: WebSocket;
  userId: string;
  sessionId: string;
  seq: number;
  alive: boolean;
  history: { role: 'user' | 'assistant'; content: string }[];
  queue: Promise<void>;
}

type AuthenticatedRequest = IncomingMessage & { userId?: string; expiresAt?: number };

const http = createServer((_request, response) => response.writeHead(426).end());
const wss = new WebSocketServer({
  server: http,
  path: '/chat/ws',
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
  verifyClient: (info: { req: AuthenticatedRequest }, done: (ok: boolean, status?: number) => void) => {
    const token = new URL(info.req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
    try {
      const claims = verify(token, secret, { algorithms: ['HS256'] });
      if (typeof claims !== 'object' || typeof claims.sub !== 'string' || typeof claims.exp !== 'number') {
        return done(false, 401);
      }
      info.req.userId = claims.sub;
      info.req.expiresAt = claims.exp * 1000;
      done(true);
    } catch {
      done(false, 401);
    }
  },
});
const clients = new Set<Client>();

wss.on('connection', (socket: WebSocket, request: AuthenticatedRequest) => {
  const client: Client = {
    socket,
    userId: request.userId ?? '',
    sessionId: randomUUID(),
    seq: 0,
    alive: true,
    history: [],
    queue: Promise.resolve(),
  };
  clients.add(client);
  socket.on('pong', () => (client.alive = true));
  socket.on('close', () => clients.delete(client));
  socket.on('message', (data: RawData) => {
    client.alive = true;
    client.queue = client.queue.then(() => onFrame(client, data.toString()));
  });
  send(client, {
    type: 'connection_status',
    session_id: client.sessionId,
    seq: 0,
    metadata: {
      status: 'connected',
      restored: false,
      models: [{ id: modelId, name: modelId }],
      model_id: modelId,
      name: 'New chat',
      token_expires_at: new Date(request.expiresAt ?? 0).toISOString(),
    },
  });
});

async function onFrame(client: Client, text: string): Promise<void> {
  let message: { type?: unknown; client_id?: unknown; content?: unknown };
  try {
    message = JSON.parse(text) as typeof message;
  } catch {
    return;
  }
  if (message.type !== 'user_message' || typeof message.content !== 'string') return;
  const clientId = typeof message.client_id === 'string' ? message.client_id : undefined;
  client.seq += 1;
  send(client, {
    type: 'ack',
    session_id: client.sessionId,
    seq: client.seq,
    client_id: clientId,
    id: randomUUID(),
  });
  client.history.push({ role: 'user', content: message.content });
  await reply(client, clientId);
}

async function reply(client: Client, clientId: string | undefined): Promise<void> {
  const replyId = randomUUID();
  const started = performance.now();
  const ephemeral = (frame: Record<string, unknown>): void =>
    send(client, { ...frame, session_id: client.sessionId, seq: client.seq });
  ephemeral({ type: 'loading', client_id: clientId, metadata: { loading: true } });
  let text = '';
  let usage: Record<string, number> | undefined;
  try {
    const stream = await llm.chat.completions.create({
      model,
      messages: client.history,
      stream: true,
      stream_options: { include_usage: true },
      user: client.userId,
    });
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        const offset = text.length;
        text += delta;
        ephemeral({
          type: 'ai_response',
          id: replyId,
          client_id: clientId,
          sender: 'ai',
          model_id: modelId,
          metadata: { delta, offset, done: false },
        });
      }
      if (chunk.usage) {
        const { prompt_tokens, completion_tokens, total_tokens } = chunk.usage;
        usage = { prompt_tokens, completion_tokens, total_tokens };
      }
    }
  } catch (error) {
    ephemeral({
      type: 'error',
      client_id: clientId,
      error: { code: 'LLM_UNAVAILABLE', message: String(error), recoverable: true },
    });
  }
  client.history.push({ role: 'assistant', content: text });
  client.seq += 1;
  send(client, {
    type: 'ai_response',
    session_id: client.sessionId,
    seq: client.seq,
    id: replyId,
    sender: 'ai',
    timestamp: new Date().toISOString(),
    client_id: clientId,
    content: text,
    model_id: modelId,
    metadata: { usage, response_ms: Math.round(performance.now() - started), done: true },
  });
  ephemeral({ type: 'loading', client_id: clientId, metadata: { loading: false } });
}

function send(client: Client, frame: Record<string, unknown>): void {
  if (client.socket.readyState === WebSocket.OPEN) client.socket.send(JSON.stringify(frame));
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`baseline: ${name} is required`);
  return value;
}

runBareLifecycle(clients, wss, http, heartbeatMs);

http.listen(port, host);

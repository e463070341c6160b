// The rooms benchmark's baseline: a bare `ws` broadcast with chatbox's room envelope (docs/protocol.md,
// "Rooms") and the least a room relay must do. Sockets on `/ws/chat`, the user read from the token's
// payload (not verified: no auth), `join` puts the socket in the room's member set, `chat` gets the
// room's next seq in memory, an `ack` to the sender and one frame, serialized once, to every other
// member (a socket past 4 MiB of unsent data is closed, as chatbox does). No persistence, no auth,
// no validation beyond what keeps it from crashing, no presence, no rate limit.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { runBareLifecycle } from './bare-lifecycle';

const port = Number(process.env.PORT ?? '0');
const host = process.env.HOST ?? '127.0.0.1';
const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? '60000');
const MAX_CONTENT = 4096;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const CLOSE_SLOW_CLIENT = 1013;

interface Client {
  socket: WebSocket;
  userId: string;
  alive: boolean;
  rooms: Set<Room>;
}

interface Room {
  id: string;
  seq: number;
  members: Set<Client>;
}

interface ClientFrame {
  type?: unknown;
  room_id?: unknown;
  client_id?: unknown;
  content?: unknown;
}

const rooms = new Map<string, Room>();
const clients = new Set<Client>();

const http = createServer((_request, response) => response.writeHead(426).end());
const wss = new WebSocketServer({
  server: http,
  path: '/ws/chat',
  perMessageDeflate: false,
  maxPayload: 64 * 1024,
});

wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
  const client: Client = { socket, userId: userOf(request), alive: true, rooms: new Set() };
  clients.add(client);
  socket.on('pong', () => (client.alive = true));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    clients.delete(client);
    for (const room of client.rooms) leave(client, room);
  });
  socket.on('message', (data: RawData) => {
    client.alive = true;
    onFrame(client, data.toString());
  });
  write(
    client,
    JSON.stringify({
      type: 'connection_status',
      user_id: client.userId,
      metadata: { status: 'connected', token_expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    }),
  );
});

function onFrame(client: Client, text: string): void {
  let frame: ClientFrame;
  try {
    frame = JSON.parse(text) as ClientFrame;
  } catch {
    return;
  }
  if (typeof frame !== 'object' || frame === null || typeof frame.room_id !== 'string') return;
  const clientId = typeof frame.client_id === 'string' ? frame.client_id : undefined;
  switch (frame.type) {
    case 'join': {
      let room = rooms.get(frame.room_id);
      if (!room) rooms.set(frame.room_id, (room = { id: frame.room_id, seq: 0, members: new Set() }));
      room.members.add(client);
      client.rooms.add(room);
      write(
        client,
        JSON.stringify({
          type: 'join',
          room_id: room.id,
          user_id: client.userId,
          seq: room.seq,
          client_id: clientId,
          metadata: { online: [], replayed: 0 },
        }),
      );
      return;
    }
    case 'leave': {
      const room = rooms.get(frame.room_id);
      if (room) leave(client, room);
      write(client, JSON.stringify({ type: 'ack', room_id: frame.room_id, client_id: clientId }));
      return;
    }
    case 'chat': {
      const room = rooms.get(frame.room_id);
      if (
        !room?.members.has(client) ||
        typeof frame.content !== 'string' ||
        frame.content.length > MAX_CONTENT
      ) {
        write(
          client,
          JSON.stringify({
            type: 'error',
            error: { code: 'INVALID_MESSAGE', message: 'refused', recoverable: true },
            room_id: frame.room_id,
            client_id: clientId,
          }),
        );
        return;
      }
      const seq = ++room.seq;
      const messageId = randomUUID();
      const timestamp = new Date().toISOString();
      write(
        client,
        JSON.stringify({
          type: 'ack',
          room_id: room.id,
          message_id: messageId,
          seq,
          timestamp,
          client_id: clientId,
        }),
      );
      // the same keys, in the same order, as chatbox's stored message frame (room-frames.ts)
      const data = JSON.stringify({
        type: 'chat',
        room_id: room.id,
        message_id: messageId,
        seq,
        user_id: client.userId,
        timestamp,
        metadata: { kind: 'text' },
        client_id: clientId,
        content: frame.content,
      });
      for (const member of room.members) if (member !== client) write(member, data);
      return;
    }
  }
}

function leave(client: Client, room: Room): void {
  room.members.delete(client);
  client.rooms.delete(room);
  if (room.members.size === 0) rooms.delete(room.id);
}

function write(client: Client, data: string): void {
  const socket = client.socket;
  if (socket.readyState !== WebSocket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    socket.close(CLOSE_SLOW_CLIENT, 'client too slow');
    return;
  }
  socket.send(data);
}

// the token's `sub`, read without checking the signature (the baseline does no auth)
function userOf(request: IncomingMessage): string {
  const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
      sub?: unknown;
    };
    return typeof payload.sub === 'string' ? payload.sub : 'anonymous';
  } catch {
    return 'anonymous';
  }
}

runBareLifecycle(clients, wss, http, heartbeatMs);

http.listen(port, host);

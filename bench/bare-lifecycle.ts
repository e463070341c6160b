import type { Server } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';

// What both bare servers (baseline-server.ts, rooms-bare-server.ts) do besides their frames, as
// chatbox does: ping every heartbeat and end a socket that answered no ping since the last one, and
// on SIGTERM close every socket with 1001 and exit.
export function runBareLifecycle(
  clients: Set<{ socket: WebSocket; alive: boolean }>,
  wss: WebSocketServer,
  http: Server,
  heartbeatMs: number,
): void {
  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }, heartbeatMs);

  process.once('SIGTERM', () => {
    clearInterval(heartbeat);
    for (const client of clients) client.socket.close(1001, 'server shutting down');
    wss.close();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

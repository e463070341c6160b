import type { WebSocket } from 'ws';

// The server ends a socket: its close frame goes out and the socket is read again if it was paused
// (handleInOrder: frames came faster than they were handled), so the client's answering close frame
// is read and the close completes; the frames read meanwhile are not handled (handleInOrder).
// Unread, ws waited its 30 s close timeout: a client whose frames waited for a frozen store got its
// token's 4401 and then no close for 30 s, its socket still counted against its user's bound. Until
// session 44 (docs/protocol.md, "Frames"; auth-expiry-busy.e2e-spec.ts).
export function closeSocket(socket: WebSocket, code: number, reason: string): void {
  socket.close(code, reason);
  if (socket.isPaused) socket.resume();
}

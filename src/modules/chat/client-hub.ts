import { Injectable } from '@nestjs/common';
import { WebSocket } from 'ws';
import type { Connection } from './connection';
import type { ServerFrame } from './frames';

// A client that cannot keep up is closed (1013: try again later) and catches up by replay.
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
export const CLOSE_SLOW_CLIENT = 1013;

// The port services use to reach clients: by session or by user. In-process today; the human help
// issue puts a Redis bus behind the same calls for several instances.
@Injectable()
export class ClientHub {
  private readonly bySession = new Map<string, Set<Connection>>();
  private readonly byUser = new Map<string, Set<Connection>>();
  private total = 0;

  add(connection: Connection): void {
    addTo(this.bySession, connection.sessionId, connection);
    addTo(this.byUser, connection.principal.userId, connection);
    this.total++;
  }

  remove(connection: Connection): boolean {
    if (!removeFrom(this.byUser, connection.principal.userId, connection)) return false;
    removeFrom(this.bySession, connection.sessionId, connection);
    this.total--;
    return true;
  }

  move(connection: Connection, sessionId: string): void {
    removeFrom(this.bySession, connection.sessionId, connection);
    connection.sessionId = sessionId;
    addTo(this.bySession, sessionId, connection);
  }

  get count(): number {
    return this.total;
  }

  sessionIds(): string[] {
    return [...this.bySession.keys()];
  }

  all(): Connection[] {
    return [...this.byUser.values()].flatMap((set) => [...set]);
  }

  ofUser(userId: string): Connection[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  hasSession(sessionId: string): boolean {
    return (this.bySession.get(sessionId)?.size ?? 0) > 0;
  }

  // Serialises once, writes to every socket of the session.
  toSession(
    sessionId: string,
    frame: ServerFrame,
    except?: Connection,
    filter?: (c: Connection) => boolean,
  ): void {
    const connections = this.bySession.get(sessionId);
    if (!connections) return;
    let data: string | undefined;
    for (const connection of connections) {
      if (connection === except || (filter && !filter(connection))) continue;
      if (connection.pending) {
        connection.pending.push(frame);
        continue;
      }
      data ??= JSON.stringify(frame);
      this.write(connection, data);
    }
  }

  send(connection: Connection, frame: ServerFrame): void {
    this.write(connection, JSON.stringify(frame));
  }

  private write(connection: Connection, data: string): void {
    const socket = connection.socket;
    if (socket.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.close(CLOSE_SLOW_CLIENT, 'client too slow; reconnect to catch up');
      return;
    }
    socket.send(data);
  }
}

function addTo(map: Map<string, Set<Connection>>, key: string, connection: Connection): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(connection);
}

function removeFrom(map: Map<string, Set<Connection>>, key: string, connection: Connection): boolean {
  const set = map.get(key);
  if (!set || !set.delete(connection)) return false;
  if (set.size === 0) map.delete(key);
  return true;
}

import WebSocket from 'ws';

// The chaos test's client plumbing: sockets that open within 5 s or not at all, one frame handler at
// a time per socket, and REST calls to /api/v1/chat.

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

const ENDPOINTS = ['/ws/chat', '/chat/ws'];

// A socket of the chaos test's clients: open within 5 s, else undefined (the instance is down or
// restarting); `created` runs before the open, to listen from the first frame on.
export function openSocket(
  url: string,
  created?: (socket: WebSocket) => void,
): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    created?.(socket);
    const timer = setTimeout(() => {
      socket.terminate();
      resolve(undefined);
    }, 5000);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

// A room socket on a random instance and a random one of the two endpoints that carry room frames.
export function randomUrl(ports: number[], token: string): string {
  return roomUrl(pick(ports), token);
}

// A room socket on this instance, on a random one of the two endpoints.
export function roomUrl(port: number, token: string): string {
  return `ws://127.0.0.1:${port}${pick(ENDPOINTS)}?token=${token}`;
}

export interface RestAnswer<T> {
  status: number;
  body: T;
}

// One REST call; any status comes back (a network error, say from an instance being killed, throws).
export async function restCall<T = unknown>(
  port: number,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<RestAnswer<T>> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/chat${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (a proxy's or the runtime's own page): kept as text
  }
  return { status: response.status, body: parsed as T };
}

// One REST call that must succeed.
export async function rest<T = unknown>(
  port: number,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const answer = await restCall<T>(port, token, method, path, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

// The error code of a REST error body ({error: {code}}).
export function errorCode(body: unknown): string | undefined {
  return (body as { error?: { code?: string } } | undefined)?.error?.code;
}

// A socket's frames go to one handler at a time. ws may emit the first frame in the same tick as
// `open` (the upgrade response and /ws/chat's connection_status in one read), before whoever awaited
// the open could listen: frames that come before a handler wait for it.
const lines = new WeakMap<WebSocket, { handler?: (data: string) => void; early: string[] }>();

export function onFrames(socket: WebSocket, handler: ((data: string) => void) | undefined): void {
  const line = lines.get(socket)!;
  line.handler = handler;
  if (handler) for (const data of line.early.splice(0)) handler(data);
}

export function openLine(url: string): Promise<WebSocket | undefined> {
  return openSocket(url, (socket) => {
    const line: { handler?: (data: string) => void; early: string[] } = { early: [] };
    lines.set(socket, line);
    socket.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      if (line.handler) line.handler(text);
      else line.early.push(text);
    });
  });
}

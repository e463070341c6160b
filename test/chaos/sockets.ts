import WebSocket from 'ws';

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

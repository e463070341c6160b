import { createServer, type Server } from 'node:net';
import { HealthController } from '../../src/modules/health/health.controller';
import { startApp, type RunningApp } from '../helpers/app';

// Readiness is public (probes have no token): a flood of it must not become a flood on the
// dependencies it checks. Each check is asked once and its answer shared for a second, by every
// request in that second (README, readiness).
describe('readiness under a flood (e2e)', () => {
  let server: RunningApp;
  let clamd: Server;
  let clamdConnections = 0;

  beforeAll(async () => {
    // a clamd that answers PING, and counts who asks
    clamd = createServer((socket) => {
      clamdConnections++;
      socket.on('data', () => socket.end('PONG\0'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => clamd.listen(0, '127.0.0.1', resolve));
    const address = clamd.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    server = await startApp({ CLAMAV_HOST: '127.0.0.1', CLAMAV_PORT: String(port) });
  });
  afterAll(async () => {
    await server?.close();
    await new Promise<void>((resolve) => clamd.close(() => resolve()));
  });

  it('should ask the store and the scanner once for 200 readiness requests at once', async () => {
    // the controller's own ping of the store
    const controller = server.app.get(HealthController) as unknown as {
      storeAnswers: () => Promise<unknown>;
    };
    const pings = jest.spyOn(controller, 'storeAnswers');
    // past the answer the boot's own checks may have left
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    clamdConnections = 0;
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () =>
        fetch(`${server.httpUrl}/chat/readyz`).then((response) => response.status),
      ),
    );
    expect(new Set(statuses)).toEqual(new Set([200]));
    // one window, or two when the burst straddles its end
    expect(pings.mock.calls.length).toBeLessThanOrEqual(2);
    expect(clamdConnections).toBeLessThanOrEqual(2);
    pings.mockRestore();
  });
});

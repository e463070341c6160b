import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/bootstrap';
import { testSettings } from './env';

export interface RunningApp {
  app: INestApplication;
  httpUrl: string;
  wsUrl: string;
  close(): Promise<void>;
}

// The real app on a real loopback port, in this process (so coverage sees it).
export async function startApp(env: Record<string, string> = {}): Promise<RunningApp> {
  const app = await createApp(testSettings(env));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/chat/ws`,
    close: () => app.close(),
  };
}

export function authHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import { createApp } from '../../src/bootstrap';
import { HttpDrain } from '../../src/common/http/http-drain';
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
  // closed as main.ts closes it on SIGTERM: without the drain a connection busy at the close and idle
  // after it stayed open for the keep-alive timeout (65 s since session 42), and held app.close()
  // past a hook's 30 s (http-hardening's afterAll in CI)
  const drain = new HttpDrain(app.getHttpServer() as Server);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/chat/ws`,
    close: () => {
      drain.begin();
      return app.close();
    },
  };
}

export function authHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export interface MessageBody {
  id: string;
  seq: number;
  type: string;
  sender: string;
  content?: string;
  client_id?: string;
  metadata?: Record<string, unknown>;
  feedback_reason?: string;
}

export interface SessionBody {
  id: string;
  name: string;
  is_active: boolean;
  message_count: number;
  total_tokens: number;
  avg_response_ms: number;
  max_response_ms: number;
  messages: MessageBody[];
}

export async function getJson<T>(url: string, token?: string): Promise<T> {
  const response = await fetch(url, { headers: token ? authHeaders(token) : {} });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { startApp, type RunningApp } from './app';
import { mongoUri } from './env';
import { RedisServer } from './redis-server';
import { TestClient } from './ws-client';

// One store and one Redis of the test's own, an OpenAI-shaped fake and two in-process instances
// sharing them: what the suites on one user's session served by two instances set up
// (versions-races, versions-size-bound).
export interface TwoInstances {
  redis: RedisServer;
  fake: OpenAiFake;
  first: RunningApp;
  second: RunningApp;
  close(): Promise<void>;
}

export async function startTwoInstances(
  fakeOptions: Parameters<typeof startOpenAiFake>[0],
  env: Record<string, string> = {},
): Promise<TwoInstances> {
  const redis = await RedisServer.start();
  const fake = await startOpenAiFake(fakeOptions);
  const shared = {
    MONGODB_URI: mongoUri(),
    REDIS_URL: redis.url,
    LLM_PROVIDERS: JSON.stringify([gptModel(fake)]),
    ...env,
  };
  const first = await startApp(shared);
  const second = await startApp(shared);
  return {
    redis,
    fake,
    first,
    second,
    close: async () => {
      await first.close();
      await second.close();
      await fake.close();
      await redis.kill();
    },
  };
}

// a socket of `token` on `app` and the session its connection_status names
export async function connectTo(
  app: RunningApp,
  token: string,
  query: Record<string, string> = {},
  timeoutMs = 5_000,
): Promise<{ client: TestClient; sessionId: string }> {
  const params = new URLSearchParams({ token, ...query });
  const client = await TestClient.connect(`${app.wsUrl}?${params.toString()}`);
  const status = await client.nextOfType('connection_status', timeoutMs);
  return { client, sessionId: String(status.session_id) };
}

// the ack of a client message, or the error that refused it
export const answerTo = (client: TestClient, clientId: string, timeoutMs = 10_000) =>
  client.next(
    (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === clientId,
    timeoutMs,
  );

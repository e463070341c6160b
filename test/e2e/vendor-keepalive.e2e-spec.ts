import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Found by a vendors audit in session 40. A vendor that is alive but slow to its first word keeps the connection open with
// its own keep-alive events: Anthropic's `event: ping` (documented: "Event streams may also include
// any number of ping events"), Dify's `event: ping` every 10 s while a workflow or agent works. The
// idle timeout (`timeout_ms`, "no data within the timeout") counts only text pieces, so a stream
// pinging steadily is taken for dead at timeout_ms, closed and asked again from the start (billed
// again), and after the last attempt the user gets LLM_UNAVAILABLE while the vendor was answering.
describe('keep-alive pings before the first token (e2e)', () => {
  jest.setTimeout(60_000);
  let vendor: Server;
  let base: string;
  let server: RunningApp;
  const calls: string[] = [];
  // pings every 100 ms for 1.5 s, then the answer
  const PING_MS = 100;
  const THINK_MS = 1500;

  const pinging = async (res: ServerResponse, ping: string, answer: string[], head = '') => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    if (head) res.write(head);
    const until = Date.now() + THINK_MS;
    while (Date.now() < until && !res.destroyed) {
      res.write(ping);
      await new Promise((resolve) => setTimeout(resolve, PING_MS));
    }
    for (const frame of answer) if (!res.destroyed) res.write(frame);
    res.end();
  };

  const anthropic = (res: ServerResponse) => {
    const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    const message = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 1 },
    };
    return pinging(
      res,
      ev('ping', { type: 'ping' }),
      [
        ev('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
        ev('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'thought it through' },
        }),
        ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
        ev('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens: 3 },
        }),
        ev('message_stop', { type: 'message_stop' }),
      ],
      // as api.anthropic.com: message_start first, then pings while the model works
      ev('message_start', { type: 'message_start', message }),
    );
  };

  const dify = (res: ServerResponse) => {
    const ids = { conversation_id: 'c-1', message_id: 'm-1', task_id: 't-1', created_at: 1 };
    const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
    return pinging(res, 'event: ping\n\n', [
      data({ event: 'message', ...ids, id: 'm-1', answer: 'thought it through' }),
      data({ event: 'message_end', ...ids, id: 'm-1', metadata: {} }),
    ]);
  };

  beforeAll(async () => {
    vendor = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        calls.push(req.url ?? '');
        if (req.url?.startsWith('/v1/messages')) void anthropic(res);
        else if (req.url?.startsWith('/v1/chat-messages/')) res.end('{"result":"success"}');
        else if (req.url?.startsWith('/v1/chat-messages')) void dify(res);
        else res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => vendor.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(vendor.address() as AddressInfo).port}`;
    const common = { timeout_ms: 500, retry_base_ms: 10, titles: false, breaker_failures: 1000 };
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        {
          id: 'claude',
          name: 'claude',
          type: 'anthropic',
          endpoint: base,
          api_key: 'k',
          model: 'm',
          ...common,
        },
        { id: 'dify', name: 'dify', type: 'dify', endpoint: `${base}/v1`, api_key: 'k', ...common },
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    vendor?.closeAllConnections();
    await new Promise((resolve) => vendor?.close(resolve));
  });

  it.each(['claude', 'dify'])(
    'should wait for %s while it sends keep-alive pings, and answer with one request',
    async (modelId) => {
      calls.length = 0;
      const token = userToken(uniqueUser());
      const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
      await client.nextOfType('connection_status');
      client.send({ type: 'model_select', model_id: modelId });
      await client.nextOfType('model_select');
      client.send({ type: 'user_message', client_id: 'k1', content: 'think hard' });
      const end = await client.next(
        (frame) => (frame.type === 'ai_response' && frame.metadata?.done === true) || frame.type === 'error',
        15_000,
      );
      const asked = calls.filter((url) => url === '/v1/messages' || url === '/v1/chat-messages').length;
      expect({ end: end.type, content: end.content, asked }).toEqual({
        end: 'ai_response',
        content: 'thought it through',
        asked: 1,
      });
      await client.close();
    },
  );
});

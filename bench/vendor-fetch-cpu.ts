// The CPU one vendor request costs chatbox's process through the OpenAI SDK, with Node's fetch and
// with the transport chatbox gives the SDKs (src/infra/llm/vendor-fetch.ts: undici's request):
//   title  — a non-streamed completion (a session's title), 600 requests, 4 at a time
//   stream — a streamed reply of 40 chunks written 5 ms apart (as the bench's fake paces them,
//            faster), 400 requests, 50 at a time
// The fake vendor runs in a child process, so the CPU read (process.cpuUsage) is the client's alone.
// Three rounds, the two transports alternated in each.
// Run: npx tsc -p bench/tsconfig.json && node .data/bench/build/bench/vendor-fetch-cpu.js
import { fork } from 'node:child_process';
import OpenAI from 'openai';
import { vendorFetch } from '../src/infra/llm/vendor-fetch';
import { startOpenAiFake } from '../test/fakes/openai-fake';

const CHUNKS = 40;
const ROUNDS = 3;

interface Shape {
  name: 'title' | 'stream';
  requests: number;
  atOnce: number;
}

const SHAPES: Shape[] = [
  { name: 'title', requests: 600, atOnce: 4 },
  { name: 'stream', requests: 400, atOnce: 50 },
];

async function fakeProcess(shape: string): Promise<void> {
  const fake = await startOpenAiFake(
    shape === 'title'
      ? { reply: 'A short title for this chat', chunkSize: 64, delayMs: 0 }
      : { reply: 'abcd'.repeat(CHUNKS), chunkSize: 4, delayMs: 5 },
  );
  process.send?.({ url: fake.url });
}

const BODY = {
  model: 'bench',
  messages: [
    {
      role: 'system' as const,
      content: 'You name chat conversations. Answer with a title of two to six words.',
    },
    { role: 'user' as const, content: 'hello '.repeat(100) },
    { role: 'assistant' as const, content: 'reply '.repeat(150) },
  ],
  max_completion_tokens: 24,
};

async function one(client: OpenAI, shape: Shape): Promise<string> {
  if (shape.name === 'title') {
    const completion = await client.chat.completions.create(BODY);
    return completion.choices[0]?.message?.content ?? '';
  }
  const stream = await client.chat.completions.create({ ...BODY, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

async function many(client: OpenAI, shape: Shape, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: shape.atOnce }, async () => {
      while (next++ < count) if ((await one(client, shape)).length === 0) throw new Error('empty reply');
    }),
  );
}

// CPU milliseconds per request
async function measure(url: string, shape: Shape, transport: 'node' | 'vendor'): Promise<number> {
  const client = new OpenAI({
    apiKey: 'bench',
    baseURL: url,
    maxRetries: 0,
    ...(transport === 'vendor' ? { fetch: vendorFetch } : {}),
  });
  await many(client, shape, Math.min(200, shape.requests));
  const before = process.cpuUsage();
  await many(client, shape, shape.requests);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / shape.requests;
}

async function main(): Promise<void> {
  console.log('| request | round | Node fetch (ms CPU) | vendor transport (ms CPU) | ratio |');
  console.log('|---|---|---|---|---|');
  for (const shape of SHAPES) {
    const child = fork(__filename, ['fake', shape.name], { stdio: 'inherit' });
    const url = await new Promise<string>((resolve) =>
      child.once('message', (message: { url: string }) => resolve(message.url)),
    );
    for (let round = 1; round <= ROUNDS; round++) {
      const node = await measure(url, shape, 'node');
      const vendor = await measure(url, shape, 'vendor');
      console.log(
        `| ${shape.name} | ${round} | ${node.toFixed(3)} | ${vendor.toFixed(3)} | ${(vendor / node).toFixed(2)}× |`,
      );
    }
    child.kill();
  }
  process.exit(0);
}

if (process.argv[2] === 'fake') void fakeProcess(process.argv[3]);
else void main();

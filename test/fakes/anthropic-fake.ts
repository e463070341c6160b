// Anthropic Messages API fake: POST /v1/messages, JSON or the named-event SSE stream of api.anthropic.com.
// Use `url` without the `/v1` suffix as the SDK's baseURL (the SDK appends `/v1/messages` itself).
import { asString, FakeCall, FakeScript, FakeServer, isObject, sseFrame } from './sse';

export interface AnthropicScript extends FakeScript {
  /** stop_reason reported at the end (default 'end_turn'). */
  stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'refusal';
}

export interface AnthropicFake extends FakeServer<AnthropicScript> {
  /** `url` without `/v1`: what `new Anthropic({ baseURL })` expects. */
  readonly baseURL: string;
}

type Call = FakeCall<AnthropicScript>;

const ERROR_DEFAULTS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  403: {
    type: 'permission_error',
    message: 'Your API key does not have permission to use the specified resource.',
  },
  404: { type: 'not_found_error', message: 'Not found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: {
    type: 'rate_limit_error',
    message: 'This request would exceed the rate limit for your organization of 50 requests per minute.',
  },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

function requestId(call: Call): string {
  return `req_fake${String(call.record.seq).padStart(6, '0')}`;
}

function errorEnvelope(status: number, call: Call, withRequestId: boolean): Record<string, unknown> {
  const base = ERROR_DEFAULTS[status] ?? (status >= 500 ? ERROR_DEFAULTS[500] : ERROR_DEFAULTS[400]);
  const override = call.script.error ?? {};
  const error = { type: override.type ?? base.type, message: override.message ?? base.message };
  return withRequestId ? { type: 'error', error, request_id: requestId(call) } : { type: 'error', error };
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((b) => (isObject(b) && b.type === 'text' ? (asString(b.text) ?? '') : '')).join('');
}

async function messages(call: Call): Promise<void> {
  const body = call.record.body;
  const turns = (Array.isArray(body.messages) ? body.messages : [])
    .filter(isObject)
    .map((m) => ({ role: asString(m.role) ?? '', text: contentText(m.content) }));
  const lastUser = [...turns].reverse().find((m) => m.role === 'user')?.text ?? '';
  const text = call.replyText(`Echo: ${lastUser}`);
  const pieces = call.pieces(text);
  const prompt = [contentText(body.system), ...turns.map((t) => t.text)].join('\n');
  const { promptTokens, completionTokens } = call.usage(prompt, pieces);
  const id = `msg_fake${String(call.record.seq).padStart(6, '0')}`;
  const model = asString(body.model) ?? 'claude-haiku-4-5';
  const stopReason = call.script.stopReason ?? 'end_turn';
  const usage = (outputTokens: number): Record<string, unknown> => ({
    input_tokens: promptTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: outputTokens,
    service_tier: 'standard',
  });
  const message = (
    content: unknown[],
    stop: string | null,
    outputTokens: number,
  ): Record<string, unknown> => ({
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    stop_details: null,
    usage: usage(outputTokens),
  });

  if (body.stream !== true) {
    call.sendJson(200, message([{ type: 'text', text }], stopReason, completionTokens));
    return;
  }

  const event = (name: string, data: Record<string, unknown>): string =>
    sseFrame(JSON.stringify({ type: name, ...data }), name);
  // the real ping payload is written with a space after the colon
  const ping = sseFrame('{"type": "ping"}', 'ping');
  await call.stream({
    head: [
      event('message_start', { message: message([], null, 1) }),
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ...Array.from({ length: call.script.pings ?? 1 }, () => ping),
    ],
    pieces: pieces.map((p) => ({
      text: p,
      frame: event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }),
    })),
    tail: [
      event('content_block_stop', { index: 0 }),
      event('message_delta', {
        delta: { stop_reason: stopReason, stop_sequence: null, stop_details: null },
        usage: { output_tokens: completionTokens },
      }),
      event('message_stop', {}),
    ],
    errorFrame: sseFrame(JSON.stringify(errorEnvelope(529, call, false)), 'error'),
  });
}

/** The LLM_PROVIDERS entry of a Claude model this fake serves, as gptModel: `extra` adds or overrides. */
export function claudeModel(
  fake: { baseURL: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'claude',
    name: 'Claude',
    type: 'anthropic',
    endpoint: fake.baseURL,
    api_key: 'sk-ant-test',
    model: 'claude-test',
    titles: false,
    ...extra,
  };
}

/** Starts the Anthropic fake on 127.0.0.1 (random port); `script` sets the default behaviour. */
export async function startAnthropicFake(script: AnthropicScript = {}): Promise<AnthropicFake> {
  const server = new FakeServer<AnthropicScript>(
    {
      routes: [{ method: 'POST', path: '/v1/messages', handle: messages }],
      errorBody: (status, call) => ({ body: JSON.stringify(errorEnvelope(status, call, true)) }),
      commonHeaders: (call) => ({ 'request-id': requestId(call) }),
    },
    script,
  );
  await server.listen();
  return Object.assign(server, { baseURL: server.url.replace(/\/v1$/, '') });
}

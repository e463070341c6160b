// OpenAI API fake: chat completions (JSON and SSE, byte-compatible with api.openai.com), audio
// transcriptions and speech. Use `url` as the SDK's baseURL.
import { randomBytes } from 'node:crypto';
import { asString, FakeCall, FakeScript, FakeServer, isObject, sseFrame, StreamPiece } from './sse';

export interface OpenAiScript extends FakeScript {
  /** finish_reason of the last choice chunk (default 'stop'). */
  finishReason?: 'stop' | 'length' | 'content_filter';
  /** Text returned by /audio/transcriptions (default: `Transcript of <file name> (<n> bytes)`). */
  transcript?: string;
  /** Milliseconds /audio/transcriptions waits before answering (a takeover can start meanwhile). */
  transcriptDelayMs?: number;
  /** Bytes returned by /audio/speech (default: a short silent MP3, or WAV/PCM when asked for). */
  speechAudio?: Buffer;
  /** Content-Type /audio/speech answers with (default: the format's): a proxy's page or error body. */
  speechType?: string;
}

export type OpenAiFake = FakeServer<OpenAiScript>;

type Call = FakeCall<OpenAiScript>;

const ERROR_DEFAULTS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request.' },
  401: {
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message:
      'Incorrect API key provided: sk-fake. You can find your API key at https://platform.openai.com/account/api-keys.',
  },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden.' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist.' },
  429: {
    type: 'requests',
    code: 'rate_limit_exceeded',
    message:
      'Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.',
  },
  500: {
    type: 'server_error',
    code: null,
    message: 'The server had an error while processing your request. Sorry about that!',
  },
  503: {
    type: 'server_error',
    code: null,
    message: 'The engine is currently overloaded, please try again later.',
  },
};

function errorObject(
  status: number,
  call: Call,
): { message: string; type: string; param: null; code: string | null } {
  const base = ERROR_DEFAULTS[status] ?? (status >= 500 ? ERROR_DEFAULTS[500] : ERROR_DEFAULTS[400]);
  const override = call.script.error ?? {};
  return {
    message: override.message ?? base.message,
    type: override.type ?? base.type,
    param: null,
    code: override.code ?? base.code,
  };
}

/** Text of a message's content: a string, or an array of parts of which the text ones count. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (isObject(part) && part.type === 'text' ? (asString(part.text) ?? '') : ''))
    .join('');
}

function chatMessages(call: Call): { role: string; text: string }[] {
  const messages = call.record.body.messages;
  if (!Array.isArray(messages)) return [];
  return messages
    .filter(isObject)
    .map((m) => ({ role: asString(m.role) ?? '', text: contentText(m.content) }));
}

function usageObject(promptTokens: number, completionTokens: number): Record<string, unknown> {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

async function chatCompletions(call: Call): Promise<void> {
  const body = call.record.body;
  const messages = chatMessages(call);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.text ?? '';
  const text = call.replyText(`Echo: ${lastUser}`);
  const pieces = call.pieces(text);
  const { promptTokens, completionTokens } = call.usage(messages.map((m) => m.text).join('\n'), pieces);
  const id = `chatcmpl-fake${String(call.record.seq).padStart(6, '0')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = asString(body.model) ?? 'gpt-4o-mini';
  const finishReason = call.script.finishReason ?? 'stop';
  const common = { id, created, model, service_tier: 'default', system_fingerprint: 'fp_fake0001' };

  if (body.stream !== true) {
    call.sendJson(200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: text, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage: usageObject(promptTokens, completionTokens),
      service_tier: 'default',
      system_fingerprint: common.system_fingerprint,
    });
    return;
  }

  const options = isObject(body.stream_options) ? body.stream_options : {};
  const includeUsage = options.include_usage === true;
  // api.openai.com pads every chunk with random characters unless include_obfuscation is false
  const obfuscate = options.include_obfuscation !== false;
  const chunk = (choices: unknown[], usage: unknown = null): string => {
    const out: Record<string, unknown> = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      service_tier: common.service_tier,
      system_fingerprint: common.system_fingerprint,
      choices,
    };
    if (includeUsage) out.usage = usage;
    if (obfuscate)
      out.obfuscation = randomBytes(8)
        .toString('base64url')
        .slice(0, 1 + (call.record.seq % 10));
    return sseFrame(JSON.stringify(out));
  };
  const choice = (delta: Record<string, unknown>, finish: string | null = null): unknown => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  const streamPieces: StreamPiece[] = pieces.map((p) => ({
    text: p,
    frame: chunk([choice({ content: p })]),
  }));
  const tail = [chunk([choice({}, finishReason)])];
  if (includeUsage) tail.push(chunk([], usageObject(promptTokens, completionTokens)));
  tail.push(sseFrame('[DONE]'));
  await call.stream({
    head: [chunk([choice({ role: 'assistant', content: '', refusal: null })])],
    pieces: streamPieces,
    tail,
    errorFrame: sseFrame(JSON.stringify({ error: errorObject(500, call) })),
  });
}

async function transcriptions(call: Call): Promise<void> {
  const form = call.record.form;
  const file = form?.files.file;
  if (!file) {
    call.sendJson(400, {
      error: {
        message: "Missing required parameter: 'file'.",
        type: 'invalid_request_error',
        param: 'file',
        code: null,
      },
    });
    return;
  }
  if (call.script.transcriptDelayMs) await call.sleep(call.script.transcriptDelayMs);
  const text = call.script.transcript ?? `Transcript of ${file.name} (${file.size} bytes)`;
  const format = form.fields.response_format ?? 'json';
  if (format === 'text' || format === 'srt' || format === 'vtt') {
    call.send(200, `${text}\n`, 'text/plain; charset=utf-8');
  } else if (format === 'verbose_json') {
    call.sendJson(200, {
      task: 'transcribe',
      language: form.fields.language ?? 'english',
      duration: 1,
      text,
      segments: [],
    });
  } else {
    call.sendJson(200, { text });
  }
}

const PCM_RATE = 24000;

/** 0.1 s of 16-bit mono silence at 24 kHz, the PCM shape OpenAI returns. */
function silentPcm(): Buffer {
  return Buffer.alloc((PCM_RATE / 10) * 2);
}

function silentWav(): Buffer {
  const pcm = silentPcm();
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(PCM_RATE, 24);
  header.writeUInt32LE(PCM_RATE * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

/** Three silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, mono): decodable by any MP3 decoder. */
function silentMp3(): Buffer {
  const frame = Buffer.alloc(417); // 144 * 128000 / 44100, no padding
  frame.set([0xff, 0xfb, 0x90, 0xc4], 0);
  return Buffer.concat([frame, frame, frame]);
}

async function speech(call: Call): Promise<void> {
  const format = asString(call.record.body.response_format) ?? 'mp3';
  if (call.script.speechAudio) {
    call.send(
      200,
      call.script.speechAudio,
      call.script.speechType ?? (format === 'wav' ? 'audio/wav' : 'audio/mpeg'),
    );
  } else if (format === 'wav') call.send(200, silentWav(), 'audio/wav');
  else if (format === 'pcm') call.send(200, silentPcm(), 'audio/pcm');
  else call.send(200, silentMp3(), 'audio/mpeg');
}

/**
 * The LLM_PROVIDERS entry of a GPT model this fake serves: `gpt`, named GPT, no titles (a test's
 * vendor calls are then its turns' alone); `extra` adds fields or overrides these.
 */
export function gptModel(
  fake: { url: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: 'gpt',
    name: 'GPT',
    type: 'openai',
    endpoint: fake.url,
    api_key: 'sk-test',
    model: 'gpt-test',
    titles: false,
    ...extra,
  };
}

/** Starts the OpenAI fake on 127.0.0.1 (random port); `script` sets the default behaviour. */
export function startOpenAiFake(script: OpenAiScript = {}): Promise<OpenAiFake> {
  const routes = [
    // both baseURL styles: `http://host/v1` (SDK default shape) and `http://host`
    ...['/v1', ''].flatMap((prefix) => [
      { method: 'POST', path: `${prefix}/chat/completions`, handle: chatCompletions },
      { method: 'POST', path: `${prefix}/audio/transcriptions`, handle: transcriptions },
      { method: 'POST', path: `${prefix}/audio/speech`, handle: speech },
    ]),
  ];
  const server = new FakeServer<OpenAiScript>(
    {
      routes,
      errorBody: (status, call) => ({ body: JSON.stringify({ error: errorObject(status, call) }) }),
      commonHeaders: (call) => ({
        'x-request-id': `req_fake${String(call.record.seq).padStart(6, '0')}`,
        'openai-processing-ms': '1',
      }),
    },
    script,
  );
  return server.listen();
}

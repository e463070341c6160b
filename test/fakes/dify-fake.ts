// Dify service API fake: POST /v1/chat-messages (blocking and streaming), /v1/chat-messages/:task_id/stop,
// /v1/audio-to-text and /v1/files/upload, DELETE /v1/conversations/:conversation_id. Dify serialises with Python's json.dumps, so payloads use `", "`/`": "` separators and
// \uXXXX escapes for non-ASCII; this fake does the same unless `escapeNonAscii: false`.
import { randomUUID } from 'node:crypto';
import {
  asString,
  FakeCall,
  FakeScript,
  FakeServer,
  isObject,
  type RecordedRequest,
  sseEventOnly,
  sseFrame,
  type UploadedFile,
} from './sse';

export interface DifyMessageFile {
  id?: string;
  type?: string;
  url: string;
}

export interface DifyScript extends FakeScript {
  /** conversation_id to answer with (default: the request's, or a new UUID when it sent none/''). */
  conversationId?: string;
  /** message_file events sent before the answer text. */
  files?: DifyMessageFile[];
  /** Python json.dumps' default ensure_ascii (default true): non-ASCII goes out as \uXXXX. */
  escapeNonAscii?: boolean;
  /** Text returned by /audio-to-text (default: `Transcript of <file name> (<n> bytes)`). */
  transcript?: string;
  /**
   * Output moderation: a `message_replace` event with this answer after the content, before
   * `message_end` (Dify: its answer replaces all the reply's text so far).
   */
  replaceWith?: string;
  /**
   * What DELETE /conversations/:id answers when it deletes: 204 and no body (newer Dify, the
   * default) or 200 `{"result": "success"}` (older).
   */
  deleteStatus?: 200 | 204;
}

/** What the app sent to /chat-messages. */
export interface DifyChatCall {
  query: string;
  user?: string;
  /** As sent: undefined when absent, '' for "start a new conversation". */
  conversationId?: string;
  responseMode?: string;
  inputs: unknown;
  files: unknown;
}

/** A DELETE /conversations/:id request, and whether the fake deleted a conversation for it. */
export interface DifyConversationDelete {
  conversationId: string;
  user?: string;
  authorization?: string;
  /** false: refused (a scripted status), or no conversation of that id and user (404, as Dify). */
  deleted: boolean;
}

/** What the app sent to /files/upload (the multipart body, parsed) and the id the fake answered. */
export interface DifyUpload {
  /** undefined when the fake refused the upload. */
  id?: string;
  user?: string;
  authorization?: string;
  file?: UploadedFile;
}

export interface DifyFake extends FakeServer<DifyScript> {
  /** Every /chat-messages request, in order. */
  readonly chatCalls: DifyChatCall[];
  /** Every /files/upload request, in order. */
  readonly uploads: DifyUpload[];
  /** Every /chat-messages/:task_id/stop request's task id. */
  readonly stoppedTasks: string[];
  /** Every DELETE /conversations/:id request, in order. */
  readonly conversationDeletes: DifyConversationDelete[];
  /** The conversations /chat-messages made or continued and no DELETE removed: id → user. */
  readonly conversations: ReadonlyMap<string, string | undefined>;
}

type Call = FakeCall<DifyScript>;

/** json.dumps(value) with Python's default separators and optional ensure_ascii. */
export function pythonJsonDumps(value: unknown, ensureAscii = true): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    const s = JSON.stringify(value);
    return ensureAscii
      ? s.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      : s;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => pythonJsonDumps(v, ensureAscii)).join(', ')}]`;
  if (isObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${pythonJsonDumps(k, ensureAscii)}: ${pythonJsonDumps(v, ensureAscii)}`).join(', ')}}`;
  }
  return JSON.stringify(String(value));
}

const ERROR_DEFAULTS: Record<number, { code: string; message: string }> = {
  400: { code: 'invalid_param', message: 'Invalid parameter.' },
  401: { code: 'unauthorized', message: 'Access token is invalid' },
  404: { code: 'not_found', message: 'Conversation Not Exists.' },
  413: { code: 'file_too_large', message: 'File size exceeded.' },
  415: { code: 'unsupported_file_type', message: 'File type not allowed.' },
  429: { code: 'too_many_requests', message: 'Too many requests. Please try again later.' },
  500: { code: 'internal_server_error', message: 'Internal Server Error, please contact support.' },
};

function errorFields(status: number, call: Call): { status: number; code: string; message: string } {
  const base = ERROR_DEFAULTS[status] ?? (status >= 500 ? ERROR_DEFAULTS[500] : ERROR_DEFAULTS[400]);
  const override = call.script.error ?? {};
  return {
    status: override.status ?? status,
    code: override.code ?? override.type ?? base.code,
    message: override.message ?? base.message,
  };
}

function dumps(call: Call, value: unknown): string {
  return pythonJsonDumps(value, call.script.escapeNonAscii ?? true);
}

function usageObject(promptTokens: number, completionTokens: number): Record<string, unknown> {
  const price = (tokens: number, unit: number): string => ((tokens * unit) / 1000).toFixed(7);
  return {
    prompt_tokens: promptTokens,
    prompt_unit_price: '0.001',
    prompt_price_unit: '0.001',
    prompt_price: price(promptTokens, 1),
    completion_tokens: completionTokens,
    completion_unit_price: '0.002',
    completion_price_unit: '0.001',
    completion_price: price(completionTokens, 2),
    total_tokens: promptTokens + completionTokens,
    total_price: price(promptTokens + 2 * completionTokens, 1),
    currency: 'USD',
    latency: 0.5,
  };
}

async function chatMessages(call: Call, conversations: Map<string, string | undefined>): Promise<void> {
  const body = call.record.body;
  const query = asString(body.query) ?? '';
  const text = call.replyText(`Echo: ${query}`);
  const pieces = call.pieces(text);
  const { promptTokens, completionTokens } = call.usage(query, pieces);
  const conversationId = call.script.conversationId ?? (asString(body.conversation_id) || randomUUID());
  // Dify keeps each conversation for the end user (`user`) it began with
  if (!conversations.has(conversationId)) conversations.set(conversationId, asString(body.user));
  const messageId = randomUUID();
  const taskId = randomUUID();
  const createdAt = Math.floor(Date.now() / 1000);
  const ids = {
    conversation_id: conversationId,
    message_id: messageId,
    created_at: createdAt,
    task_id: taskId,
  };
  const metadata = { usage: usageObject(promptTokens, completionTokens), retriever_resources: [] };

  if (body.response_mode !== 'streaming') {
    const answer = {
      event: 'message',
      task_id: taskId,
      id: messageId,
      message_id: messageId,
      conversation_id: conversationId,
      mode: 'chat',
      answer: text,
      metadata,
      created_at: createdAt,
    };
    call.send(200, dumps(call, answer), 'application/json');
    return;
  }

  const frame = (value: Record<string, unknown>): string => sseFrame(dumps(call, value));
  const files = (call.script.files ?? []).map((f) =>
    frame({
      event: 'message_file',
      conversation_id: conversationId,
      message_id: messageId,
      created_at: createdAt,
      task_id: taskId,
      id: f.id ?? randomUUID(),
      type: f.type ?? 'image',
      belongs_to: 'assistant',
      url: f.url,
    }),
  );
  await call.stream({
    head: [...Array.from({ length: call.script.pings ?? 0 }, () => sseEventOnly('ping')), ...files],
    pieces: pieces.map((p) => ({
      text: p,
      frame: frame({ event: 'message', ...ids, id: messageId, answer: p }),
    })),
    tail: [
      ...(call.script.replaceWith === undefined
        ? []
        : [
            frame({
              event: 'message_replace',
              ...ids,
              answer: call.script.replaceWith,
              reason: 'output_moderation',
            }),
          ]),
      frame({ event: 'message_end', ...ids, id: messageId, metadata, files: null }),
    ],
    errorFrame: frame({ event: 'error', ...ids, ...errorFields(500, call) }),
  });
}

async function stop(call: Call): Promise<void> {
  call.send(200, dumps(call, { result: 'success' }), 'application/json');
}

// Dify deletes a conversation only for its own end user (`user` in the JSON body); another's, or
// one it does not have, is 404 "Conversation Not Exists."
async function deleteConversation(
  call: Call,
  conversations: Map<string, string | undefined>,
  deleted: WeakSet<RecordedRequest>,
): Promise<void> {
  const conversationId = decodeURIComponent(CONVERSATION_PATH.exec(call.record.path)?.[1] ?? '');
  const user = asString(call.record.body.user);
  if (!conversations.has(conversationId) || conversations.get(conversationId) !== user)
    return call.sendError(404);
  conversations.delete(conversationId);
  deleted.add(call.record);
  if ((call.script.deleteStatus ?? 204) === 204) {
    call.res.writeHead(204, call.headers());
    call.end();
    return;
  }
  call.send(200, dumps(call, { result: 'success' }), 'application/json');
}

async function audioToText(call: Call): Promise<void> {
  const file = call.record.form?.files.file;
  if (!file) {
    call.send(
      400,
      dumps(call, { code: 'no_audio_uploaded', message: 'Please upload your audio.', status: 400 }),
      'application/json',
    );
    return;
  }
  call.send(
    200,
    dumps(call, { text: call.script.transcript ?? `Transcript of ${file.name} (${file.size} bytes)` }),
    'application/json',
  );
}

// Dify answers 201 with the stored file's record; the id goes into chat-messages' `files` as upload_file_id.
async function filesUpload(call: Call, ids: WeakMap<RecordedRequest, string>): Promise<void> {
  const form = call.record.form;
  const file = form?.files.file;
  if (!file) {
    call.send(
      400,
      dumps(call, { code: 'no_file_uploaded', message: 'Please upload your file.', status: 400 }),
      'application/json',
    );
    return;
  }
  if (!file.name) {
    call.send(
      400,
      dumps(call, { code: 'filename_not_exists_error', message: 'The specified filename does not exist.' }),
      'application/json',
    );
    return;
  }
  const id = randomUUID();
  ids.set(call.record, id);
  const dot = file.name.lastIndexOf('.');
  call.send(
    201,
    dumps(call, {
      id,
      name: file.name,
      size: file.size,
      extension: dot >= 0 ? file.name.slice(dot + 1) : '',
      mime_type: file.type,
      created_by: form?.fields.user ?? null,
      created_at: Math.floor(Date.now() / 1000),
    }),
    'application/json',
  );
}

const STOP_PATH = /^\/v1\/chat-messages\/([^/]+)\/stop$/;
const CONVERSATION_PATH = /^\/v1\/conversations\/([^/]+)$/;

/** Starts the Dify fake on 127.0.0.1 (random port); `script` sets the default behaviour. */
export async function startDifyFake(script: DifyScript = {}): Promise<DifyFake> {
  // upload ids by request, so `uploads` follows reset() like every other recorded request
  const uploadIds = new WeakMap<RecordedRequest, string>();
  // the conversations it holds (kept across reset(), as a server's are), and the deletes that removed one
  const conversations = new Map<string, string | undefined>();
  const deleted = new WeakSet<RecordedRequest>();
  const server = new FakeServer<DifyScript>(
    {
      routes: [
        { method: 'POST', path: '/v1/chat-messages', handle: (call) => chatMessages(call, conversations) },
        { method: 'POST', path: STOP_PATH, handle: stop },
        { method: 'POST', path: '/v1/audio-to-text', handle: audioToText },
        { method: 'POST', path: '/v1/files/upload', handle: (call) => filesUpload(call, uploadIds) },
        {
          method: 'DELETE',
          path: CONVERSATION_PATH,
          handle: (call) => deleteConversation(call, conversations, deleted),
        },
      ],
      errorBody: (status, call) => ({ body: dumps(call, errorFields(status, call)) }),
    },
    script,
  );
  await server.listen();
  return Object.defineProperties(server, {
    chatCalls: {
      get: (): DifyChatCall[] =>
        server.requests
          .filter((r) => r.path === '/v1/chat-messages')
          .map((r) => ({
            query: asString(r.body.query) ?? '',
            user: asString(r.body.user),
            conversationId: asString(r.body.conversation_id),
            responseMode: asString(r.body.response_mode),
            inputs: r.body.inputs,
            files: r.body.files,
          })),
    },
    uploads: {
      get: (): DifyUpload[] =>
        server.requests
          .filter((r) => r.path === '/v1/files/upload')
          .map((r) => ({
            id: uploadIds.get(r),
            user: r.form?.fields.user,
            authorization: asString(r.headers.authorization),
            file: r.form?.files.file,
          })),
    },
    stoppedTasks: {
      get: (): string[] => server.requests.flatMap((r) => STOP_PATH.exec(r.path)?.[1] ?? []),
    },
    conversationDeletes: {
      get: (): DifyConversationDelete[] =>
        server.requests
          .filter((r) => r.method === 'DELETE' && CONVERSATION_PATH.test(r.path))
          .map((r) => ({
            conversationId: decodeURIComponent(CONVERSATION_PATH.exec(r.path)?.[1] ?? ''),
            user: asString(r.body.user),
            authorization: asString(r.headers.authorization),
            deleted: deleted.has(r),
          })),
    },
    conversations: { get: (): ReadonlyMap<string, string | undefined> => conversations },
  }) as DifyFake;
}

import type { LlmModelSettings } from '../../config/llm.settings';
import {
  type AudioInput,
  isAbort,
  isRetryableStatus,
  type LlmChunk,
  type LlmProvider,
  LlmProviderError,
  type LlmRequest,
  parseRetryAfter,
} from './llm-provider';
import { imagesToSend, uploadImages } from './dify-files';
import { DEFAULT_TIMEOUT_MS } from './openai.provider';
import { OpenAiAudio } from './openai-speech';
import { abortError, DifyTask } from './dify-task';
import { deleteConversation } from './dify-conversations';
import { parseEvent, taskOf, withEarlierTurns } from './dify-events';
import { onDataInit, vendorFetch } from './vendor-fetch';

const DEFAULT_ENDPOINT = 'https://api.dify.ai/v1';
const STOP_TIMEOUT_MS = 5000;
// a purged session's conversation is deleted under the session's lock (SessionRemoval): at most this
// long, or the model's timeout_ms when shorter, then the next sweep asks again
const FORGET_TIMEOUT_MS = 10_000;

// Dify's chat-messages API in streaming mode (SSE). Dify keeps the conversation itself: we send the
// newest user message, the turns it missed as a transcript, and its conversation_id, kept on our
// session as provider state. Their images (a model with `vision`) are uploaded first and named in
// `files`.
export class DifyProvider implements LlmProvider {
  readonly modelId: string;
  readonly vendor = 'dify';
  readonly stateful = true;
  readonly synthesize?: LlmProvider['synthesize'];
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly model: LlmModelSettings) {
    this.modelId = model.id;
    this.base = (model.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    this.timeoutMs = model.timeout_ms ?? DEFAULT_TIMEOUT_MS;
    const tts = model.tts;
    if (tts) {
      const speech = new OpenAiAudio({
        endpoint: tts.endpoint,
        apiKey: tts.api_key,
        timeoutMs: this.timeoutMs,
      });
      this.synthesize = (text, signal) => speech.synthesize(text, tts, signal);
    }
  }

  async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
    const last = request.messages.findLastIndex((message) => message.role === 'user');
    const newest = last >= 0 ? request.messages[last].content : '';
    const known = request.detached ? undefined : request.providerState?.conversation_id;
    const conversationId = typeof known === 'string' ? known : '';
    // Dify learns what it has not seen: every turn before, for a conversation that starts
    // mid-session (the user switched to this model); for one it holds, the turns since its own
    // newest answer (another model's, an admin's, unanswered ones)
    const from = conversationId ? Math.min(request.since ?? last, last) : 0;
    const earlier = request.detached || last < 0 ? [] : request.messages.slice(from, last);
    // a detached request (a session title) does not need to see the pictures
    const images = request.detached ? [] : imagesToSend(request.messages, from, last);
    // failures here are pre-first-token failures like the chat request's own (retried when retryable)
    const files = await uploadImages(images, request.userId, request.signal, (form, signal) =>
      this.send('/files/upload', form, signal, { label: 'dify image upload' }),
    );
    const body: Record<string, unknown> = {
      inputs: {},
      query: withEarlierTurns(earlier, newest),
      response_mode: 'streaming',
      conversation_id: conversationId,
      user: request.userId,
      ...(files.length > 0 ? { files } : {}),
    };
    // the request on a signal of its own: a stop still learns the task to stop it (DifyTask)
    const connection = new AbortController();
    const task = new DifyTask(
      connection,
      request.signal,
      (taskId) => this.stopTask(taskId, request.userId),
      taskOf,
    );
    let stateSent = conversationId;
    let ended = false;
    try {
      const response = await task.response(
        this.send('/chat-messages', JSON.stringify(body), connection.signal, {
          contentType: 'application/json',
          // its `ping` events while a workflow or agent works are life too (LlmRequest.onData)
          onData: request.onData,
        }),
      );
      for await (const message of task.events(response)) {
        const event = parseEvent(message.data);
        if (!event) continue;
        if (!request.detached && event.conversation_id && event.conversation_id !== stateSent) {
          stateSent = event.conversation_id;
          yield { type: 'state', providerState: { conversation_id: event.conversation_id } };
        }
        switch (event.event) {
          case 'message':
          case 'agent_message':
            if (event.answer) yield { type: 'delta', text: event.answer };
            break;
          case 'message_replace':
            // output moderation: its answer replaces all the reply's text so far (Dify's API)
            if (typeof event.answer === 'string') yield { type: 'replace', text: event.answer };
            break;
          case 'message_file':
            if (event.url && (event.belongs_to ?? 'assistant') === 'assistant')
              yield { type: 'file', url: this.absolute(event.url), kind: event.type };
            break;
          case 'message_end': {
            ended = true;
            const usage = event.metadata?.usage;
            if (
              usage &&
              typeof usage.prompt_tokens === 'number' &&
              typeof usage.completion_tokens === 'number'
            ) {
              yield {
                type: 'usage',
                usage: {
                  prompt_tokens: usage.prompt_tokens,
                  completion_tokens: usage.completion_tokens,
                  total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
                },
              };
            }
            break;
          }
          case 'error':
            // the message is Dify's and may quote the prompt: keep only status and code
            throw new LlmProviderError(
              `dify: error event ${event.status ?? ''} ${event.code ?? ''}`.trim(),
              isRetryableStatus(event.status ?? 500),
            );
        }
      }
    } catch (error) {
      if (isAbort(error) || request.signal.aborted || error instanceof LlmProviderError) throw error;
      throw new LlmProviderError('dify: connection lost', true);
    } finally {
      task.close();
    }
    if (!ended) throw new LlmProviderError('dify: stream ended without message_end', true);
  }

  async transcribe(audio: AudioInput): Promise<string> {
    const form = new FormData();
    // the Blob copies the bytes once; a Uint8Array copy of them first was one more
    form.append(
      'file',
      new Blob([audio.data as Uint8Array<ArrayBuffer>], { type: audio.mimeType }),
      audio.fileName,
    );
    form.append('user', audio.userId);
    const response = await this.send('/audio-to-text', form, audio.signal);
    let result: unknown;
    try {
      result = await response.json();
    } catch (error) {
      // an abort stays an abort; a body that is not JSON (a proxy's page) makes a SyntaxError quoting
      // it, which the caller would log
      if (audio.signal?.aborted) throw error;
      throw new LlmProviderError('dify transcription: unreadable answer', true);
    }
    const text =
      typeof result === 'object' && result !== null ? (result as { text?: unknown }).text : undefined;
    if (typeof text !== 'string') throw new LlmProviderError('dify: no transcript', false);
    return text.trim();
  }

  // A purged session's conversation (docs/protocol.md, "Session library"): a 5xx, a 429, no answer
  // in time or none at all fail retryably, for the next sweep; a refused key (401, 403) does not heal
  // by asking again, and fails not retryably.
  forget(state: Record<string, unknown>, userId: string): Promise<void> {
    return deleteConversation(state, userId, (path, body, accepted) =>
      this.send(path, body, undefined, {
        method: 'DELETE',
        contentType: 'application/json',
        label: 'dify conversation delete',
        timeoutMs: Math.min(this.timeoutMs, FORGET_TIMEOUT_MS),
        accepted,
      }),
    );
  }

  // Headers must arrive within the timeout; the body's pace is watched by the caller. Errors name
  // the status only (never the key or Dify's message, which may quote the prompt), after `label`;
  // a status in `accepted` answers as a 2xx does.
  private async send(
    path: string,
    body: string | FormData,
    signal: AbortSignal | undefined,
    {
      method = 'POST',
      contentType,
      label = 'dify',
      timeoutMs = this.timeoutMs,
      accepted = [],
      onData,
    }: {
      method?: 'POST' | 'DELETE';
      contentType?: string;
      label?: string;
      timeoutMs?: number;
      accepted?: readonly number[];
      onData?: () => void;
    } = {},
  ): Promise<Response> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signals = signal ? [signal, timeout.signal] : [timeout.signal];
    let response: Response;
    try {
      // the vendors' transport (a file upload's form goes on through Node's fetch)
      response = await vendorFetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.model.api_key ?? ''}`,
          ...(contentType ? { 'content-type': contentType } : {}),
        },
        body,
        signal: AbortSignal.any(signals),
        ...onDataInit(onData),
      });
    } catch {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : abortError();
      if (timeout.signal.aborted) throw new LlmProviderError(`${label}: timeout`, true);
      throw new LlmProviderError(`${label}: connection failed`, true);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok && !accepted.includes(response.status)) {
      await response.body?.cancel().catch(() => undefined);
      throw new LlmProviderError(
        `${label}: HTTP ${response.status}`,
        isRetryableStatus(response.status),
        parseRetryAfter(response.headers.get('retry-after')),
      );
    }
    return response;
  }

  // Closing the connection does not stop a Dify task (it keeps generating and billing): ask it to
  // (DifyTask learns its id when stopped before the first event).
  private stopTask(taskId: string, userId: string): void {
    void vendorFetch(`${this.base}/chat-messages/${encodeURIComponent(taskId)}/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.model.api_key ?? ''}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: userId }),
      signal: AbortSignal.timeout(STOP_TIMEOUT_MS),
    })
      .then((response) => response.body?.cancel())
      .catch(() => undefined);
  }

  // Dify answers file URLs relative to its own origin unless its FILES_URL is set.
  private absolute(url: string): string {
    return new URL(url, `${new URL(this.base).origin}/`).toString();
  }
}

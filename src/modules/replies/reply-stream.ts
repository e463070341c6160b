import { Logger } from '@nestjs/common';
import type { LlmUsage } from '../../infra/llm/llm-provider';
import type { EphemeralFrame } from '../../protocol/frames';
import type { ModelEntry } from '../llm/llm.registry';
import type { ModelStream } from '../llm/model-stream';
import type { SessionsService } from '../sessions/sessions.service';
import type { GeneratedFile } from './reply-attachments';
import type { ReplyFences } from './reply-fences';
import type { Generation } from './reply-generation';
import type { AssembledPrompt } from './reply-prompt';
import { describeError } from '../../common/logging/logging';

// What the streaming loop leaves for the recorder.
export interface StreamedReply {
  usage?: LlmUsage;
  files: GeneratedFile[];
  responseMs: number;
  firstTokenMs?: number;
  failure: unknown;
}

export class ReplyStreamer {
  private readonly logger = new Logger('llm');

  constructor(
    private readonly model: ModelStream,
    private readonly sessions: SessionsService,
    private readonly fences: ReplyFences,
    // a frame of the reply: held while the reply waits for its message to be stored (ReplyService)
    private readonly emit: (generation: Generation, frame: EphemeralFrame) => void,
  ) {}

  // The streaming loop (ModelStream, shared with `@ai` in rooms): deltas to every device as they
  // come, vendor state and files kept for the recorder. Never throws: a failure is returned for the
  // recorder to report.
  async stream(
    generation: Generation,
    entry: ModelEntry,
    userId: string,
    assembled: AssembledPrompt,
  ): Promise<StreamedReply> {
    const { sessionId, clientId, modelId } = generation;
    const files: GeneratedFile[] = [];
    let stateWrite: Promise<unknown> | undefined;
    const result = await this.model.run(
      entry,
      {
        messages: assembled.messages,
        signal: generation.controller.signal,
        userId,
        providerState: assembled.providerState,
        since: assembled.since,
      },
      { userId, sessionId },
      {
        onDelta: (text, offset) => {
          if (this.fences.cut(generation)) return;
          generation.text += text;
          this.piece(generation, text, offset);
        },
        // Dify's output moderation replaced the reply: the replacement is the text stored, shown to a
        // device that resumes, and after which later pieces go. A replacement that only adds to the
        // text shown goes out as a piece; any other is shown by the reply's final frame, whose
        // `content` clients take over the pieces (no piece takes text back; docs/protocol.md,
        // "Vendor streams end with the vendor's end")
        onReplace: (text) => {
          if (this.fences.cut(generation)) return;
          const shown = generation.text;
          generation.text = text;
          if (text.length > shown.length && text.startsWith(shown))
            this.piece(generation, text.slice(shown.length), shown.length);
        },
        onRetry: ({ attempt, attempts, delayMs }) =>
          this.emit(generation, {
            type: 'loading',
            client_id: clientId,
            metadata: {
              loading: true,
              retrying: true,
              attempt: attempt + 1,
              max_attempts: attempts,
              retry_in_ms: delayMs,
            },
          }),
        onState: (providerState) => {
          // off the token path; awaited before the reply is stored, so the next turn reads it
          stateWrite = this.sessions
            .setProviderState(sessionId, userId, modelId, providerState)
            .catch((error: unknown) =>
              this.logger.warn(
                {
                  session_id: sessionId,
                  reply_id: generation.replyId,
                  event: 'provider_state_failed',
                  err: describeError(error),
                },
                'state lost',
              ),
            );
        },
        onFile: (file) => files.push(file),
      },
    );
    await stateWrite;
    const { usage, responseMs, firstTokenMs, failure } = result;
    return { usage, files, responseMs, firstTokenMs, failure };
  }

  // a piece of the reply to every device: its text and where it goes
  private piece(generation: Generation, text: string, offset: number): void {
    this.emit(generation, {
      type: 'ai_response',
      id: generation.replyId,
      client_id: generation.clientId,
      sender: 'ai',
      model_id: generation.modelId,
      metadata: { delta: text, offset, done: false },
    });
  }
}

import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { wholeText } from '../../common/display-text';
import { FILE_STORE, showsStored, type FileStore } from '../../infra/files/file-store';
import { DEFAULT_TIMEOUT_MS } from '../../infra/llm/openai.provider';
import { LlmEvents } from '../llm/llm-events';
import { LlmRegistry } from '../llm/llm.registry';
import { SessionsService } from '../sessions/sessions.service';
import type { Connection } from '../realtime/connection';
import type { ClientMessageOf } from '../../protocol/frames';
import { RecordService } from '../replies/record.service';
import type { MessageRecord, NewMessage } from '../sessions/session.types';
import { LlmProviderError, type LlmProvider } from '../../infra/llm/llm-provider';
import type { StoredFileInfo } from '../../infra/files/file-store';
import { TranscriptionPlaces } from './transcription-places';

// audio/* plus the containers browsers record voice in (MediaRecorder gives video/webm at times)
const AUDIO = /^(audio\/[\w.+-]+|video\/webm|application\/ogg)$/;
// the largest recording transcribed: OpenAI's transcriptions take 25 MB at most (Dify's less)
export const MAX_VOICE_BYTES = 25 * 1000 * 1000;

// `voice_message` (CONTRACT §2): an uploaded audio file is transcribed by the session's model
// (OpenAI transcriptions, Dify audio-to-text), stored with its transcript, shown to every device of
// the user, and answered like a typed message unless an admin assists. Nothing is stored when transcription fails: the
// client may send the same file_id again.
@Injectable()
export class VoiceService {
  private readonly logger = new Logger('chat');
  // the voice messages being handled on this instance, by user, session and client_id: settled
  // (never rejected) once each is done
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly sessions: SessionsService,
    private readonly registry: LlmRegistry,
    private readonly records: RecordService,
    private readonly events: LlmEvents,
    private readonly places: TranscriptionPlaces,
    @Optional() @Inject(FILE_STORE) private readonly files?: FileStore,
  ) {}

  async handle(connection: Connection, message: ClientMessageOf<'voice_message'>): Promise<void> {
    if (message.client_id === undefined) return this.handleOnce(connection, message);
    const key = `${connection.principal.userId}\n${connection.sessionId}\n${message.client_id}`;
    // a resend while its first copy is still being handled here (a cut socket, the vendor slow)
    // waits for it and is then answered as any resend, from the stored copy: it was transcribed
    // (and billed) a second time (docs/protocol.md, "Resends")
    for (let first = this.inFlight.get(key); first; first = this.inFlight.get(key)) await first;
    const run = this.handleOnce(connection, message);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.set(key, settled);
    try {
      await run;
    } finally {
      if (this.inFlight.get(key) === settled) this.inFlight.delete(key);
    }
  }

  private async handleOnce(connection: Connection, message: ClientMessageOf<'voice_message'>): Promise<void> {
    const sessionId = connection.sessionId;
    const { userId } = connection.principal;
    const fileId = message.file_id;
    if (!this.files) throw new DomainException(ErrorCode.NOT_IMPLEMENTED, 'Voice messages need uploads.');
    const session = await this.sessions.getOwned(sessionId, userId);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    // a resend of a stored voice message (its client_id again, after a cut socket) is answered with
    // the stored copy before anything else: it was transcribed (and billed) again, and a model
    // without transcription or a failing vendor now refused a message that was stored
    // (docs/protocol.md, "Resends")
    const resent =
      message.client_id !== undefined
        ? await this.sessions.sent(sessionId, { client_id: message.client_id, sender: 'user' }, userId)
        : undefined;
    if (resent) {
      await this.records.record({
        sessionId,
        origin: connection,
        echo: true,
        owner: userId,
        message: withoutStoredFields(resent),
        name: true,
        answer: true,
      });
      return;
    }
    const modelId = this.registry.has(session.model_id) ? session.model_id : this.registry.defaultModelId;
    const { provider, settings } = this.registry.entry(modelId);
    if (!provider.transcribe)
      throw new DomainException(ErrorCode.FILE_REJECTED, 'This model cannot take voice messages.');
    // Type and size from the record, before a byte is read: the file_id of a large file that is not
    // audio was read whole into memory, and only then refused (docs/protocol.md, "Uploads and files").
    const found = await this.files.info(fileId, userId);
    if (!AUDIO.test(found.mime_type))
      throw new DomainException(ErrorCode.FILE_REJECTED, 'A voice message must be an audio file.');
    if (found.size > MAX_VOICE_BYTES)
      throw new DomainException(
        ErrorCode.FILE_TOO_LARGE,
        `A voice message may be ${MAX_VOICE_BYTES / 1000 / 1000} MB at most.`,
      );
    // a place before a byte is read: each transcription holds the recording several times over
    // while the vendor works (docs/protocol.md, "Uploads and files")
    const release = await this.places.enter(userId);
    let heard: Heard;
    try {
      heard = await readAndTranscribe(
        this.files,
        provider.transcribe.bind(provider),
        fileId,
        userId,
        settings.timeout_ms,
      );
    } catch (error) {
      if (!(error instanceof TranscriptionFailed)) throw error;
      this.events.failure({
        kind: 'transcription_failed',
        modelId,
        vendor: provider.vendor,
        userId,
        sessionId,
        error: error.description,
      });
      // the vendor's retry-after goes on as the error's retry_after, as a reply's does
      // (docs/protocol.md, "Uploads and files"). Until the speech audit of session 42 a 429 with
      // `retry-after: 120` came as "please try again" with none, for OpenAI and Dify alike (3 of 3)
      throw new DomainException(
        ErrorCode.LLM_UNAVAILABLE,
        'The voice message could not be transcribed; please try again.',
        { retryAfterMs: error.retryAfterMs },
      );
    } finally {
      release();
    }
    const { info } = heard;
    // whole Unicode before anything shows it: a lone surrogate (JSON's `\ud800` in the vendor's
    // answer) is stored as U+FFFD, so every frame carries U+FFFD in its place too (docs/protocol.md,
    // "Uploads and files"). Until the speech audit of session 42 the sender was shown the transcript
    // as it came and read another back (3 of 3)
    const transcript = wholeText(heard.transcript);
    if (transcript.length === 0)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'No speech was recognised in the recording.');
    // the transcript is the message's content, so it is encrypted at rest like typed text; frames
    // and history show it as metadata.transcript too
    // decided on the session as this write leaves it: a takeover that started during the
    // transcription is seen, and the admin answers (docs/protocol.md, "One record path")
    // recorded under the file's lock, the file attached first: a voice message that stores nothing (a
    // copy sent at once on the other instance, a refusal such as SESSION_FULL) takes the attachment
    // back unless another message of the session shows the recording (FileStore.attachWhile). Until
    // a files audit in session 39 it stayed, readable by the admin assisting the session
    const files = this.files;
    const { message: stored, duplicate } = await files.attachWhile(
      fileId,
      userId,
      sessionId,
      () =>
        this.records.record({
          sessionId,
          // every device, the sender's included: it learns the transcript this way
          origin: connection,
          echo: true,
          owner: userId,
          message: {
            type: 'voice_message',
            sender: 'user',
            client_id: message.client_id,
            content: transcript,
            file_id: fileId,
            metadata: {
              file: { name: info.name, size: info.size, mime_type: info.mime_type },
              transcription_ms: heard.transcriptionMs,
            },
          },
          name: true,
          answer: true,
        }),
      async (recorded) => showsStored(recorded, fileId) || this.sessions.shows(sessionId, fileId, userId),
    );
    if (!duplicate)
      this.logger.log(
        { user_id: userId, session_id: sessionId, event: 'voice_message', seq: stored.seq },
        'voice message stored',
      );
  }
}

interface Heard {
  transcript: string;
  info: StoredFileInfo;
  transcriptionMs: number;
}

// the vendor's failure, told apart from the store's (which keep their own codes)
class TranscriptionFailed extends Error {
  constructor(
    readonly description: string,
    // how long the vendor asked us to wait (its retry-after), when it said
    readonly retryAfterMs?: number,
  ) {
    super(description);
  }
}

// The file's bytes live only in here: nothing holds them once the vendor answered.
async function readAndTranscribe(
  files: FileStore,
  transcribe: NonNullable<LlmProvider['transcribe']>,
  fileId: string,
  userId: string,
  timeoutMs: number | undefined,
): Promise<Heard> {
  const { info, data } = await files.read(fileId, userId);
  const started = performance.now();
  try {
    const transcript = await transcribe({
      data,
      mimeType: info.mime_type,
      fileName: info.name,
      userId,
      signal: AbortSignal.timeout(timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    return { transcript, info, transcriptionMs: Math.round(performance.now() - started) };
  } catch (error) {
    throw new TranscriptionFailed(
      error instanceof Error ? `${error.name}: ${error.message}` : 'failure',
      error instanceof LlmProviderError ? error.retryAfterMs : undefined,
    );
  }
}

// a stored event as a message to record again (its resend): the store gives it back as it was
function withoutStoredFields(stored: MessageRecord): Omit<NewMessage, 'id'> {
  const { id: _id, seq: _seq, ...message } = stored;
  return message;
}

import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { FILE_STORE, type FileStore, type StoredFileInfo } from '../../infra/files/file-store';
import { fetchGeneratedFile } from '../../infra/llm/file-fetcher';
import { LlmEvents } from '../llm/llm-events';
import type { ModelEntry } from '../llm/llm.registry';
import { imageUrlsIn } from '../llm/reply-images';
import { linkWords } from '../../common/markdown-text';

const MAX_FILE_BYTES = 20 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;
// every file of one reply, together: a host that trickles its bytes (a socket idle just under the
// timeout each time) holds the reply's storage no longer than this
const FETCH_DEADLINE_MS = 30_000;
const SPEECH_TIMEOUT_MS = 60_000;
// OpenAI's speech input limit
const SPEECH_MAX_CHARS = 4096;
// what we copy into our storage; anything else stays a link (never serve vendor HTML as ours)
const STORABLE = /^(image\/(png|jpeg|gif|webp)|audio\/[\w.+-]+|application\/pdf|text\/(plain|csv))$/;
// what a reply's speech may be kept as: its content must be audio, whatever the vendor labelled it
const SPEECH_TYPES = /^audio\//;

export interface GeneratedFile {
  url: string;
  kind?: string;
}

// What `metadata.attachments` lists: a stored file (file_id; file_url is our stable redirect,
// signed when read), an external link the model or vendor gave, or a file dropped by the uploads'
// checks (no file_url: neither kept nor linked).
export type Attachment = KeptAttachment | DroppedAttachment;

export interface KeptAttachment {
  kind: 'audio' | 'image' | 'file';
  source: 'tts' | 'ai';
  file_url: string;
  file_id?: string;
  name?: string;
  mime_type?: string;
  size?: number;
  external?: boolean;
}

// Why a file the reply brought was dropped: what refused it (docs/protocol.md, "Uploads and files").
export type DropReason = 'infected' | 'type' | 'quota' | 'too_large' | 'scanner_down';

export interface DroppedAttachment {
  kind: 'audio' | 'image' | 'file';
  source: 'tts' | 'ai';
  dropped: DropReason;
}

// the uploads' refusals (FileStore.saveGenerated) that drop a file; any other failure is not the
// file's fault, and a vendor's file is then still offered as its link
const DROP_REASONS: Partial<Record<ErrorCode, DropReason>> = {
  [ErrorCode.FILE_REJECTED]: 'infected',
  [ErrorCode.UNSUPPORTED_FILE_TYPE]: 'type',
  [ErrorCode.QUOTA_EXCEEDED]: 'quota',
  [ErrorCode.FILE_TOO_LARGE]: 'too_large',
  [ErrorCode.SCANNER_UNAVAILABLE]: 'scanner_down',
};

// The extras of a finished reply: files the AI produced (stored or linked, per the model's
// `files` mode) and, for models with `tts`, the reply as speech.
@Injectable()
export class ReplyAttachments {
  private readonly logger = new Logger('llm');

  constructor(
    private readonly events: LlmEvents,
    @Optional() @Inject(FILE_STORE) private readonly store?: FileStore,
  ) {}

  async collect(input: {
    entry: ModelEntry;
    sessionId: string;
    userId: string;
    text: string;
    files: GeneratedFile[];
    // the reply's: a stop ends the fetches and the speech (what was fetched before stays)
    signal?: AbortSignal;
  }): Promise<Attachment[]> {
    const { entry } = input;
    const attachments: Attachment[] = [];
    const mode = entry.settings.files ?? 'store';
    if (mode !== 'off') {
      const seen = new Set<string>();
      // What the vendor sent as its files may come from its own endpoint's host (Dify serves them
      // there); a link in the reply's text is only what the model wrote, which a user can have it
      // write: fetched from public addresses and the operator's `file_hosts` only, never from the
      // model's (often private) endpoint (SSRF; README, "Voice and AI files").
      const candidates = [
        ...input.files.map((file) => ({ file, fromVendor: true })),
        ...imageUrlsIn(input.text).map((url) => ({ file: { url, kind: 'image' }, fromVendor: false })),
      ]
        .filter(({ file }) => this.isWebLink(file, input))
        .filter(({ file }) => !seen.has(file.url) && seen.add(file.url));
      const deadline = withStop(AbortSignal.timeout(FETCH_DEADLINE_MS), input.signal);
      for (const { file, fromVendor } of candidates) {
        attachments.push(
          mode === 'store' ? await this.storeOrLink(file, input, fromVendor, deadline) : link(file),
        );
      }
    }
    if (entry.settings.tts && entry.provider.synthesize && !input.signal?.aborted) {
      const speech = await this.speak(input);
      if (speech) attachments.push(speech);
    }
    return attachments;
  }

  // The reply these were collected for is not stored, for certain (its turn answered elsewhere, an
  // admin's takeover, the session gone): the files kept for it are shown by no message, and go
  // (bytes and record, out of the owner's quota). Until the paused-uploads audit of session 44 they
  // stayed in the user's files and quota for good, attached to the session, where no sweep of
  // unattached files looks (docs/protocol.md, "Uploads and files"). Never throws.
  async release(sessionId: string, attachments: Attachment[] | undefined): Promise<void> {
    const fileIds = (attachments ?? []).flatMap((attachment) =>
      'file_id' in attachment && attachment.file_id ? [attachment.file_id] : [],
    );
    if (!this.store || fileIds.length === 0) return;
    try {
      await this.store.discard(fileIds, sessionId, () => Promise.resolve(new Set<string>()));
    } catch (error) {
      this.logger.warn(
        { event: 'ai_files_release_failed', session_id: sessionId, err: String(error) },
        'files of a dropped reply not released',
      );
    }
  }

  // A file is an http(s) URL, fetched or offered as a link: a vendor's javascript: or data: URL (a
  // Dify message_file carries any `url`) was stored as a link both clients showed as an <a href>.
  private isWebLink(file: GeneratedFile, input: { entry: ModelEntry; sessionId: string }): boolean {
    const protocol = schemeOf(file.url);
    if (protocol === 'http:' || protocol === 'https:') return true;
    this.logger.warn(
      {
        event: 'ai_file_refused',
        scheme: protocol ?? null,
        model_id: input.entry.settings.id,
        session_id: input.sessionId,
      },
      'file of a reply that is no web link dropped',
    );
    return false;
  }

  private async storeOrLink(
    file: GeneratedFile,
    input: { entry: ModelEntry; sessionId: string; userId: string },
    fromVendor: boolean,
    deadline: AbortSignal,
  ): Promise<Attachment> {
    if (!this.store) return link(file);
    try {
      const fetched = await fetchGeneratedFile(file.url, {
        trustedHosts: trustedHosts(input.entry, fromVendor),
        maxBytes: MAX_FILE_BYTES,
        timeoutMs: FETCH_TIMEOUT_MS,
        signal: deadline,
      });
      if (!STORABLE.test(fetched.mimeType)) return link(file);
      const saved = await this.store.saveGenerated({
        ownerId: input.userId,
        sessionId: input.sessionId,
        name: fetched.name,
        mimeType: fetched.mimeType,
        data: fetched.data,
      });
      return stored(saved, 'ai', this.store.urlOf(saved.file_id));
    } catch (error) {
      // refused by the uploads' checks: neither kept nor linked (malware, a type that is not what it
      // says, the owner's quota, no scanner to vouch for it); the reply is kept all the same
      const dropped = this.dropped(error, input, link(file).kind, 'ai');
      if (dropped) return dropped;
      this.failed('file_failed', input, error);
      // the reply still offers the file, as the vendor's link
      return link(file);
    }
  }

  private async speak(input: {
    entry: ModelEntry;
    sessionId: string;
    userId: string;
    text: string;
    signal?: AbortSignal;
  }): Promise<Attachment | undefined> {
    const store = this.store;
    if (!store) return undefined;
    try {
      const audio = await (
        input.entry.provider.synthesize as NonNullable<typeof input.entry.provider.synthesize>
      )(speechText(input.text), withStop(AbortSignal.timeout(SPEECH_TIMEOUT_MS), input.signal));
      const extension = audio.mimeType.split('/')[1]?.replace('mpeg', 'mp3') ?? 'audio';
      const saved = await store.saveGenerated({
        ownerId: input.userId,
        sessionId: input.sessionId,
        name: `reply.${extension}`,
        mimeType: audio.mimeType,
        data: audio.data,
        // bytes that are not audio (a proxy's page labelled audio/mpeg) are dropped as `type`, never
        // kept as the speech (docs/protocol.md, "Uploads and files"). Until the speech audit of
        // session 42 they were, as `{kind: file, name: reply.txt, mime_type: text/plain}`, in the
        // user's files and quota (3 of 3)
        only: SPEECH_TYPES,
      });
      return stored(saved, 'tts', store.urlOf(saved.file_id));
    } catch (error) {
      // stopped by its user (or a takeover, a shutdown): no failure
      if (input.signal?.aborted) return undefined;
      const dropped = this.dropped(error, input, 'audio', 'tts');
      if (dropped) return dropped;
      this.failed('speech_failed', input, error);
      return undefined;
    }
  }

  private dropped(
    error: unknown,
    input: { entry: ModelEntry; sessionId: string; userId: string },
    kind: DroppedAttachment['kind'],
    source: DroppedAttachment['source'],
  ): DroppedAttachment | undefined {
    const reason = error instanceof DomainException ? DROP_REASONS[error.code] : undefined;
    if (!reason) return undefined;
    this.logger.warn(
      {
        event: 'ai_file_dropped',
        reason,
        source,
        model_id: input.entry.settings.id,
        user_id: input.userId,
        session_id: input.sessionId,
      },
      'file of a reply dropped',
    );
    return { kind, source, dropped: reason };
  }

  private failed(
    kind: 'file_failed' | 'speech_failed',
    input: { entry: ModelEntry; sessionId: string; userId: string },
    error: unknown,
  ): void {
    this.events.failure({
      kind,
      modelId: input.entry.settings.id,
      vendor: input.entry.provider.vendor,
      userId: input.userId,
      sessionId: input.sessionId,
      error: error instanceof Error ? `${error.name}: ${error.message}` : 'failure',
    });
  }
}

function stored(info: StoredFileInfo, source: 'tts' | 'ai', fileUrl: string): KeptAttachment {
  return {
    kind: kindOf(info.mime_type),
    source,
    file_id: info.file_id,
    // the stable app URL (signed when read), never a signed one
    file_url: fileUrl,
    name: info.name,
    mime_type: info.mime_type,
    size: info.size,
  };
}

function link(file: GeneratedFile): KeptAttachment {
  const kind = file.kind === 'image' || file.kind === 'audio' ? file.kind : 'file';
  return { kind, source: 'ai', file_url: file.url, external: true };
}

function schemeOf(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

function kindOf(mimeType: string): KeptAttachment['kind'] {
  if (mimeType.startsWith('image/')) return 'image';
  if (mimeType.startsWith('audio/')) return 'audio';
  return 'file';
}

// The model's own endpoint serves the files its vendor sends (Dify); operators may trust more hosts.
function trustedHosts(entry: ModelEntry, fromVendor: boolean): Set<string> {
  const hosts = new Set(entry.settings.file_hosts ?? []);
  if (fromVendor && entry.settings.endpoint) hosts.add(new URL(entry.settings.endpoint).host.toLowerCase());
  return hosts;
}

// Speech of the reply text: markdown images and links read as their words, capped at the API limit.
export function speechText(text: string): string {
  const plain = linkWords(text)
    .replace(/[*_`#>]+/g, '')
    .trim();
  if (plain.length <= SPEECH_MAX_CHARS) return plain;
  const cut = plain.slice(0, SPEECH_MAX_CHARS);
  const sentence = Math.max(cut.lastIndexOf('. '), cut.lastIndexOf('\n'));
  return sentence > SPEECH_MAX_CHARS / 2 ? cut.slice(0, sentence + 1) : cut;
}

function withStop(deadline: AbortSignal, stop: AbortSignal | undefined): AbortSignal {
  return stop ? AbortSignal.any([deadline, stop]) : deadline;
}

import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import {
  LLM_IMAGE_TYPES,
  type LlmDocument,
  type LlmImage,
  type LlmImageType,
} from '../../infra/llm/llm-provider';
import type { ContextMessage } from '../llm/context-window';
import type { MessageRecord } from '../sessions/session.types';
import { formatBytes, isTextType } from './file-rules';
import { FilesService } from './files.service';
import { countPdfPages } from './pdf-pages';

// How much of a text document the model sees (the context window trims further), for how many of
// the newest documents, and how many documents' text stay cached between replies.
export const MAX_TEXT_CHARS = 16_000;
const MAX_TEXT_FILES = 5;
const CACHE_ENTRIES = 200;
// Images a vision model sees: the newest few, each at most 3.75 MiB, because Anthropic refuses an
// image whose base64 passes 5 MiB (OpenAI allows 20 MB). Image bytes are not cached: every request
// carries them anyway, and a cache would pin megabytes per active user.
export const MAX_IMAGES = 4;
export const MAX_IMAGE_BYTES = (5 * 1024 * 1024 * 3) / 4;
// PDFs a model with `documents` reads: the newest two, each at most 3 MiB and 50 pages, because both
// vendors take 100 pages a request, and Anthropic 32 MB a request (4 images and 2 PDFs in base64 are
// 28 MiB); a PDF past them is a note, never a refused turn (docs/protocol.md, "Uploads and files").
// Not cached either.
export const MAX_DOCUMENTS = 2;
export const MAX_DOCUMENT_BYTES = 3 * 1024 * 1024;
export const MAX_DOCUMENT_PAGES = 50;
const PDF = 'application/pdf';

interface FileMetadata {
  name: string;
  size: number;
  mime_type: string;
}

export interface FileContextOptions {
  // the model takes images (`vision` in its settings): attach them instead of naming them
  vision?: boolean;
  // the model reads PDFs (`documents` in its settings): attach them instead of naming them
  documents?: boolean;
  // the session the history is of: a file its assisting admin sent there is read as that admin's
  // while the session shows it (FilesService.readSentPrefix); without it such a file is only named
  sessionId?: string;
}

// A history record as context: a file upload becomes a typed message of its sender, with the images
// and PDFs the model sees.
export type ContextRecord = MessageRecord & { images?: LlmImage[]; documents?: LlmDocument[] };

// How a file upload reaches the model; part of the turn's id, which keys the token-count cache, so
// the note and the image of one upload (another model, an image now too old) are counted apart.
type Form =
  'text' | 'gone' | 'unavailable' | 'note' | 'image' | 'document' | 'large' | 'long' | 'unreadable' | 'older';

// a file that could not be read: gone for good, or not now (storage or the malware scanner away)
type Unread = 'gone' | 'unavailable';
type ImageRead = LlmImage | 'large' | Unread;
type DocumentRead = LlmDocument | 'large' | 'long' | 'unreadable' | Unread;

interface Turn {
  content: string;
  form: Form;
  image?: LlmImage;
  document?: LlmDocument;
}

// Turns `file_upload` messages into context the model can use: text documents by their text (a
// bounded excerpt), images as images for vision models, PDFs as PDFs for models with `documents`,
// other files (and images and PDFs for other models) by a note naming them, each with the caption.
// Returned as typed messages of their sender, so the reply flow treats them like typed messages: the
// user's as user turns, an assisting admin's as the admin's text is, an assistant turn
// (reply-context.ts), worded as the admin's (docs/protocol.md, "Takeover handoff").
@Injectable()
export class FileContextService {
  private readonly logger = new Logger('uploads');
  private readonly texts = new Map<string, string>();

  constructor(private readonly files: FilesService) {}

  async withFileContext(
    history: MessageRecord[],
    ownerId: string,
    options: FileContextOptions = {},
  ): Promise<ContextRecord[]> {
    const withText = newest(history, (type) => isTextType(type), MAX_TEXT_FILES);
    // the user's only: an admin's file is an assistant turn, and the vendors take images and PDFs
    // with user turns alone (openai.provider.ts, anthropic.provider.ts): read, they would be dropped
    const users = history.filter((message) => message.sender !== 'admin');
    const withImage = options.vision ? newest(users, isImageType, MAX_IMAGES) : new Set<string>();
    const withDocument = options.documents
      ? newest(users, (type) => type === PDF, MAX_DOCUMENTS)
      : new Set<string>();
    // read in parallel: up to MAX_IMAGES + MAX_DOCUMENTS storage reads per reply
    const [images, documents] = await Promise.all([
      readAll(history, withImage, (message) => this.imageOf(message, ownerId)),
      readAll(history, withDocument, (message) => this.documentOf(message, ownerId)),
    ]);
    const result: ContextRecord[] = [];
    for (const message of history) {
      if (message.type !== 'file_upload') {
        result.push(message);
        continue;
      }
      const turn = await this.contextOf(message, ownerId, options.sessionId, {
        text: withText.has(message.id),
        vision: options.vision === true,
        image: images.get(message.id),
        documents: options.documents === true,
        document: documents.get(message.id),
      });
      result.push({
        ...message,
        id: `${message.id}:${turn.form}`,
        type: 'user_message',
        content: turn.content,
        ...(turn.image ? { images: [turn.image] } : {}),
        ...(turn.document ? { documents: [turn.document] } : {}),
      });
    }
    return result;
  }

  private async contextOf(
    message: MessageRecord,
    ownerId: string,
    sessionId: string | undefined,
    include: {
      text: boolean;
      vision: boolean;
      image: ImageRead | undefined;
      documents: boolean;
      document: DocumentRead | undefined;
    },
  ): Promise<Turn> {
    const file = metadataOf(message);
    const caption = message.content?.trim();
    // an assisting admin's file is the admin's message, not the user's (AttachmentsService.record).
    // Until the takeover audit of session 44 it was put to the model as "The user attached …", and,
    // read as the user's, as gone (3 of 3 runs)
    const admin = message.sender === 'admin';
    const attached = admin ? `${adminOf(message)} sent the user` : 'The user attached';
    if (!file || !message.file_id) return { content: caption ?? `[${attached} a file.]`, form: 'note' };
    const what = `"${file.name}" (${file.mime_type}, ${formatBytes(file.size)})`;
    const withCaption = (body: string) => (caption ? `${body}\n${caption}` : body);
    const note = (kind: string, form: Form, why: string): Turn => ({
      content: withCaption(`[${attached} the ${kind} ${what}; ${why}.]`),
      form,
    });
    // an admin's is read only where it was sent: without the session it is named
    if (include.text && (!admin || sessionId !== undefined)) {
      const read = admin
        ? await this.sentTextOf(message.file_id, ownerId, sessionId as string)
        : await this.textOf(message.file_id, ownerId);
      if (typeof read === 'string') return note('document', read, whyNot(read, 0));
      const { text } = read;
      const part = text.length >= MAX_TEXT_CHARS ? ' (beginning)' : '';
      return {
        content: withCaption(`[${attached} the document ${what}. Its text${part}:]\n${text}`),
        form: 'text',
      };
    }
    // an admin's image or PDF is never read (withFileContext): named, the image as one not shown
    if (admin)
      return file.mime_type.startsWith('image/')
        ? note('image', 'note', 'you cannot see it here')
        : { content: withCaption(`[${attached} the file ${what}.]`), form: 'note' };
    if (include.vision && isImageType(file.mime_type)) {
      const image = include.image;
      if (image === undefined)
        return note('image', 'older', `only the ${MAX_IMAGES} newest images are shown to you`);
      if (typeof image === 'string') return note('image', image, whyNot(image, MAX_IMAGE_BYTES));
      return { content: withCaption(`[The user attached the image ${what}.]`), form: 'image', image };
    }
    if (include.documents && file.mime_type === PDF) {
      const document = include.document;
      if (document === undefined)
        return note('document', 'older', `only the ${MAX_DOCUMENTS} newest PDFs are shown to you`);
      if (typeof document === 'string')
        return note('document', document, whyNot(document, MAX_DOCUMENT_BYTES));
      const content = withCaption(`[The user attached the document ${what}.]`);
      return { content, form: 'document', document };
    }
    if (file.mime_type.startsWith('image/'))
      return {
        content: withCaption(`[The user attached the image ${what}; you cannot see images here.]`),
        form: 'note',
      };
    return { content: withCaption(`[The user attached the file ${what}.]`), form: 'note' };
  }

  private textOf(fileId: string, ownerId: string): Promise<{ text: string } | Unread> {
    // keyed by owner too: a cached text is only ever served to whoever could read the file
    return this.cachedText(`${ownerId}\n${fileId}`, fileId, (bytes) =>
      this.files.readPrefix(fileId, ownerId, bytes),
    );
  }

  // An assisting admin's text file in the user's session: read as the admin's only while that
  // session, the user's, shows it (FilesService.readSentPrefix), never any other file of the admin's.
  private sentTextOf(fileId: string, userId: string, sessionId: string): Promise<{ text: string } | Unread> {
    // keyed by the session too: its cached text is served only where it was sent
    return this.cachedText(`${userId}\n${sessionId}\n${fileId}`, fileId, (bytes) =>
      this.files.readSentPrefix(fileId, { userId, sessionId }, bytes),
    );
  }

  private async cachedText(
    key: string,
    fileId: string,
    read: (maxBytes: number) => Promise<{ data: Buffer }>,
  ): Promise<{ text: string } | Unread> {
    const cached = this.texts.get(key);
    if (cached !== undefined) return { text: cached };
    try {
      // 4 bytes per character at most: enough bytes for MAX_TEXT_CHARS characters
      const { data } = await read(MAX_TEXT_CHARS * 4);
      const text = data.toString('utf8').slice(0, MAX_TEXT_CHARS);
      if (this.texts.size >= CACHE_ENTRIES) this.texts.delete(this.texts.keys().next().value as string);
      this.texts.set(key, text);
      return { text };
    } catch (error) {
      return this.unreadable(fileId, error);
    }
  }

  // The owner's image through FilesService (owner-checked), never more than MAX_IMAGE_BYTES + 1 read.
  private async imageOf(message: MessageRecord, ownerId: string): Promise<ImageRead> {
    const file = metadataOf(message);
    if (!file || !message.file_id) return 'gone';
    if (file.size > MAX_IMAGE_BYTES) return 'large';
    try {
      const { info, data } = await this.files.readPrefix(message.file_id, ownerId, MAX_IMAGE_BYTES + 1);
      if (data.length > MAX_IMAGE_BYTES) return 'large';
      // the stored record's type, set from the file's magic bytes at upload
      if (!isImageType(info.mime_type)) return 'gone';
      return { mimeType: info.mime_type, data };
    } catch (error) {
      return this.unreadable(message.file_id, error);
    }
  }

  // The owner's PDF through FilesService (owner-checked), never more than MAX_DOCUMENT_BYTES + 1 read,
  // with its pages counted: one the vendors would refuse (too long, encrypted) is named instead.
  private async documentOf(message: MessageRecord, ownerId: string): Promise<DocumentRead> {
    const file = metadataOf(message);
    if (!file || !message.file_id) return 'gone';
    if (file.size > MAX_DOCUMENT_BYTES) return 'large';
    try {
      const { info, data } = await this.files.readPrefix(message.file_id, ownerId, MAX_DOCUMENT_BYTES + 1);
      if (data.length > MAX_DOCUMENT_BYTES) return 'large';
      // the stored record's type, set from the file's magic bytes at upload
      if (info.mime_type !== PDF) return 'gone';
      const pages = await countPdfPages(data);
      if (pages === undefined) return 'unreadable';
      if (pages > MAX_DOCUMENT_PAGES) return 'long';
      return { mimeType: PDF, name: file.name, data, pages };
    } catch (error) {
      return this.unreadable(message.file_id, error);
    }
  }

  // Gone (deleted, infected: FILE_REJECTED by its late scan), or not readable now: its storage or
  // the malware scanner away (a file stored unscanned is scanned before it is read: FilesService)
  private unreadable(fileId: string, error: unknown): Unread {
    if (!(error instanceof DomainException)) {
      this.logger.warn(
        { event: 'file_context_failed', file_id: fileId, err: String(error) },
        'file unreadable',
      );
      return 'unavailable';
    }
    return error.code === ErrorCode.STORAGE_UNAVAILABLE || error.code === ErrorCode.SCANNER_UNAVAILABLE
      ? 'unavailable'
      : 'gone';
  }
}

// The images and PDFs of history records (see withFileContext) put on their context messages,
// matched by id: the context mapping keeps text only.
export function withAttachments(prompt: ContextMessage[], history: ContextRecord[]): ContextMessage[] {
  const attached = new Map<string, Pick<ContextRecord, 'images' | 'documents'>>();
  for (const { id, images, documents } of history)
    if (images?.length || documents?.length)
      attached.set(id, {
        ...(images?.length ? { images } : {}),
        ...(documents?.length ? { documents } : {}),
      });
  if (attached.size === 0) return prompt;
  return prompt.map((message) => {
    const found = message.key === undefined ? undefined : attached.get(message.key);
    return found ? { ...message, ...found } : message;
  });
}

// What `read` gives for each message of `history` whose id is in `ids`, read side by side.
async function readAll<T>(
  history: MessageRecord[],
  ids: Set<string>,
  read: (message: MessageRecord) => Promise<T>,
): Promise<Map<string, T>> {
  const chosen = history.filter((message) => ids.has(message.id));
  return new Map(
    await Promise.all(chosen.map(async (message) => [message.id, await read(message)] as const)),
  );
}

// Why an image or PDF the model would take is named instead of sent.
function whyNot(read: 'large' | 'long' | 'unreadable' | Unread, maxBytes: number): string {
  switch (read) {
    case 'large':
      return `it is too large to show you (over ${formatBytes(maxBytes)})`;
    case 'long':
      return `it is too long to show you (over ${MAX_DOCUMENT_PAGES} pages)`;
    case 'unreadable':
      return 'it cannot be shown to you (encrypted or unreadable)';
    case 'gone':
      return 'it is no longer available';
    case 'unavailable':
      return 'it cannot be read right now';
  }
}

function isImageType(mimeType: string): mimeType is LlmImageType {
  return (LLM_IMAGE_TYPES as readonly string[]).includes(mimeType);
}

// Ids of the newest `limit` file uploads whose type passes `accept`.
function newest(history: MessageRecord[], accept: (mimeType: string) => boolean, limit: number): Set<string> {
  return new Set(
    history
      .filter((message) => message.type === 'file_upload' && accept(metadataOf(message)?.mime_type ?? ''))
      .slice(-limit)
      .map((message) => message.id),
  );
}

// How an assisting admin's file is put to the model: by the name its message shows (metadata.admin_name,
// as the user's devices show it), on one line.
function adminOf(message: MessageRecord): string {
  const name = message.metadata?.admin_name;
  const shown = typeof name === 'string' ? name.replace(/\s+/g, ' ').trim().slice(0, 80) : '';
  return shown
    ? `The admin ${shown}, a human colleague assisting this chat,`
    : 'An admin assisting this chat';
}

function metadataOf(message: MessageRecord): FileMetadata | undefined {
  const file = message.metadata?.file;
  if (typeof file !== 'object' || file === null) return undefined;
  const { name, size, mime_type } = file as Record<string, unknown>;
  if (typeof name !== 'string' || typeof size !== 'number' || typeof mime_type !== 'string') return undefined;
  return { name, size, mime_type };
}

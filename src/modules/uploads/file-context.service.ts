import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { LLM_IMAGE_TYPES, type LlmImage, type LlmImageType } from '../../infra/llm/llm-provider';
import type { ContextMessage } from '../llm/context-window';
import type { MessageRecord } from '../sessions/session.types';
import { isTextType } from './file-rules';
import { FilesService } from './files.service';
import { formatBytes } from './file-intake.service';

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

interface FileMetadata {
  name: string;
  size: number;
  mime_type: string;
}

export interface FileContextOptions {
  // the model takes images (`vision` in its settings): attach them instead of naming them
  vision?: boolean;
}

// A history record as context: a file upload becomes a user turn, with the images a vision model sees.
export type ContextRecord = MessageRecord & { images?: LlmImage[] };

// How a file upload reaches the model; part of the turn's id, which keys the token-count cache, so
// the note and the image of one upload (another model, an image now too old) are counted apart.
type Form = 'text' | 'gone' | 'note' | 'image' | 'large' | 'older';

type ImageRead = LlmImage | 'large' | 'gone';

// Turns `file_upload` messages into context the model can use: text documents by their text (a
// bounded excerpt), images as images for vision models, other files (and images for other models)
// by a note naming them, each with the caption. Returned as user turns, so the reply flow treats
// them like typed messages.
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
    const withImage = options.vision ? newest(history, isImageType, MAX_IMAGES) : new Set<string>();
    // read in parallel: up to MAX_IMAGES storage reads per reply
    const images = new Map(
      await Promise.all(
        history
          .filter((message) => withImage.has(message.id))
          .map(async (message) => [message.id, await this.imageOf(message, ownerId)] as const),
      ),
    );
    const result: ContextRecord[] = [];
    for (const message of history) {
      if (message.type !== 'file_upload') {
        result.push(message);
        continue;
      }
      const turn = await this.contextOf(message, ownerId, {
        text: withText.has(message.id),
        vision: options.vision === true,
        image: images.get(message.id),
      });
      result.push({
        ...message,
        id: `${message.id}:${turn.form}`,
        type: 'user_message',
        content: turn.content,
        ...(turn.image ? { images: [turn.image] } : {}),
      });
    }
    return result;
  }

  private async contextOf(
    message: MessageRecord,
    ownerId: string,
    include: { text: boolean; vision: boolean; image: ImageRead | undefined },
  ): Promise<{ content: string; form: Form; image?: LlmImage }> {
    const file = metadataOf(message);
    const caption = message.content?.trim();
    if (!file || !message.file_id) return { content: caption ?? '[The user attached a file.]', form: 'note' };
    const what = `"${file.name}" (${file.mime_type}, ${formatBytes(file.size)})`;
    const withCaption = (body: string) => (caption ? `${body}\n${caption}` : body);
    if (include.text) {
      const text = await this.textOf(message.file_id, ownerId);
      return text === undefined
        ? {
            content: withCaption(`[The user attached the document ${what}; it is no longer available.]`),
            form: 'gone',
          }
        : {
            content: withCaption(
              `[The user attached the document ${what}. Its text${text.length >= MAX_TEXT_CHARS ? ' (beginning)' : ''}:]\n${text}`,
            ),
            form: 'text',
          };
    }
    if (include.vision && isImageType(file.mime_type)) {
      const image = include.image;
      if (image === undefined)
        return {
          content: withCaption(
            `[The user attached the image ${what}; only the ${MAX_IMAGES} newest images are shown to you.]`,
          ),
          form: 'older',
        };
      if (image === 'gone')
        return {
          content: withCaption(`[The user attached the image ${what}; it is no longer available.]`),
          form: 'gone',
        };
      if (image === 'large')
        return {
          content: withCaption(
            `[The user attached the image ${what}; it is too large to show you (over ${formatBytes(MAX_IMAGE_BYTES)}).]`,
          ),
          form: 'large',
        };
      return { content: withCaption(`[The user attached the image ${what}.]`), form: 'image', image };
    }
    if (file.mime_type.startsWith('image/'))
      return {
        content: withCaption(`[The user attached the image ${what}; you cannot see images here.]`),
        form: 'note',
      };
    return { content: withCaption(`[The user attached the file ${what}.]`), form: 'note' };
  }

  private async textOf(fileId: string, ownerId: string): Promise<string | undefined> {
    // keyed by owner too: a cached text is only ever served to whoever could read the file
    const key = `${ownerId}\n${fileId}`;
    const cached = this.texts.get(key);
    if (cached !== undefined) return cached;
    try {
      // 4 bytes per character at most: enough bytes for MAX_TEXT_CHARS characters
      const { data } = await this.files.readPrefix(fileId, ownerId, MAX_TEXT_CHARS * 4);
      const text = data.toString('utf8').slice(0, MAX_TEXT_CHARS);
      if (this.texts.size >= CACHE_ENTRIES) this.texts.delete(this.texts.keys().next().value as string);
      this.texts.set(key, text);
      return text;
    } catch (error) {
      this.unreadable(fileId, error);
      return undefined;
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
      this.unreadable(message.file_id, error);
      return 'gone';
    }
  }

  private unreadable(fileId: string, error: unknown): void {
    if (!(error instanceof DomainException))
      this.logger.warn(
        { event: 'file_context_failed', file_id: fileId, err: String(error) },
        'file unreadable',
      );
  }
}

// The images of history records (see withFileContext) put on their context messages, matched by id:
// the context mapping keeps text only.
export function withImages(prompt: ContextMessage[], history: ContextRecord[]): ContextMessage[] {
  const images = new Map<string, LlmImage[]>();
  for (const record of history) if (record.images?.length) images.set(record.id, record.images);
  if (images.size === 0) return prompt;
  return prompt.map((message) => {
    const attached = message.key === undefined ? undefined : images.get(message.key);
    return attached ? { ...message, images: attached } : message;
  });
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

function metadataOf(message: MessageRecord): FileMetadata | undefined {
  const file = message.metadata?.file;
  if (typeof file !== 'object' || file === null) return undefined;
  const { name, size, mime_type } = file as Record<string, unknown>;
  if (typeof name !== 'string' || typeof size !== 'number' || typeof mime_type !== 'string') return undefined;
  return { name, size, mime_type };
}

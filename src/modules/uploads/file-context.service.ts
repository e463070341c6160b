import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import type { MessageRecord } from '../sessions/session.types';
import { isTextType } from './file-rules';
import { FilesService } from './files.service';
import { formatBytes } from './uploads.service';

// How much of a text document the model sees (the context window trims further), for how many of
// the newest documents, and how many documents' text stay cached between replies.
export const MAX_TEXT_CHARS = 16_000;
const MAX_TEXT_FILES = 5;
const CACHE_ENTRIES = 200;

interface FileMetadata {
  name: string;
  size: number;
  mime_type: string;
}

// Turns `file_upload` messages into context the model can use: text documents by their text (a
// bounded excerpt), other files (images, PDFs, audio) by a note naming them, each with the caption.
// Returned as user turns, so the reply flow treats them like typed messages.
@Injectable()
export class FileContextService {
  private readonly logger = new Logger('uploads');
  private readonly texts = new Map<string, string>();

  constructor(private readonly files: FilesService) {}

  async withFileContext(history: MessageRecord[], ownerId: string): Promise<MessageRecord[]> {
    const withText = new Set(
      history
        .filter(
          (message) => message.type === 'file_upload' && isTextType(metadataOf(message)?.mime_type ?? ''),
        )
        .slice(-MAX_TEXT_FILES)
        .map((message) => message.id),
    );
    const result: MessageRecord[] = [];
    for (const message of history) {
      if (message.type !== 'file_upload') {
        result.push(message);
        continue;
      }
      const content = await this.contextOf(message, ownerId, withText.has(message.id));
      result.push({ ...message, type: 'user_message', content });
    }
    return result;
  }

  private async contextOf(message: MessageRecord, ownerId: string, includeText: boolean): Promise<string> {
    const file = metadataOf(message);
    const caption = message.content?.trim();
    if (!file || !message.file_id) return caption ?? '[The user attached a file.]';
    const what = `"${file.name}" (${file.mime_type}, ${formatBytes(file.size)})`;
    let body: string;
    if (includeText) {
      const text = await this.textOf(message.file_id, ownerId);
      body =
        text === undefined
          ? `[The user attached the document ${what}; it is no longer available.]`
          : `[The user attached the document ${what}. Its text${text.length >= MAX_TEXT_CHARS ? ' (beginning)' : ''}:]\n${text}`;
    } else if (file.mime_type.startsWith('image/')) {
      body = `[The user attached the image ${what}; you cannot see images here.]`;
    } else {
      body = `[The user attached the file ${what}.]`;
    }
    return caption ? `${body}\n${caption}` : body;
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
      if (!(error instanceof DomainException))
        this.logger.warn(
          { event: 'file_context_failed', file_id: fileId, err: String(error) },
          'file unreadable',
        );
      return undefined;
    }
  }
}

function metadataOf(message: MessageRecord): FileMetadata | undefined {
  const file = message.metadata?.file;
  if (typeof file !== 'object' || file === null) return undefined;
  const { name, size, mime_type } = file as Record<string, unknown>;
  if (typeof name !== 'string' || typeof size !== 'number' || typeof mime_type !== 'string') return undefined;
  return { name, size, mime_type };
}

import type { Principal } from '../../common/auth/principal';

// The port through which chat and LLM code store and read files, whatever the storage driver.
// Implemented by the uploads module (S3 or local disk); provided globally under FILE_STORE.
export interface StoredFileInfo {
  file_id: string;
  name: string;
  size: number;
  mime_type: string;
}

export interface FileStore {
  // files the AI produced (speech, generated images): stored like uploads, owned by the session's user
  // and counted in their quota. Checked as uploads are (type by content, clamd, quota): a file that
  // fails is refused with the upload's code (UNSUPPORTED_FILE_TYPE, FILE_REJECTED, QUOTA_EXCEEDED,
  // FILE_TOO_LARGE, SCANNER_UNAVAILABLE) and nothing of it is kept (docs/protocol.md, "Uploads and
  // files"). `only`: the types it may be kept as, of those allowed (speech: audio); a file whose
  // content is another type is refused UNSUPPORTED_FILE_TYPE
  saveGenerated(input: {
    ownerId: string;
    sessionId: string;
    name: string;
    mimeType: string;
    data: Buffer;
    only?: RegExp;
  }): Promise<StoredFileInfo>;
  // an uploaded or generated file of this owner, without its bytes (check type and size first)
  info(fileId: string, ownerId: string): Promise<StoredFileInfo>;
  // an uploaded or generated file of this owner, with its bytes (for transcription or LLM context)
  read(fileId: string, ownerId: string): Promise<{ info: StoredFileInfo; data: Buffer }>;
  // binds an uploaded file to a message of the session (file_upload, voice_message): attached files
  // are kept, files never attached are deleted after a day. Unknown or foreign file → NOT_FOUND.
  attach(fileId: string, ownerId: string, sessionId: string): Promise<StoredFileInfo>;
  // attach, then `store` the message that shows the file, both under the file's lock: a `discard`
  // of the same scope waits for that message and sees it (a room's send beside a delete). `shown`:
  // whether a message of the scope shows the file after `store` (no: the attachment is taken back),
  // given what `store` returned (undefined when it threw): a message it stored just now with the
  // file says so without a read (`showsStored`)
  attachWhile<T>(
    fileId: string,
    ownerId: string,
    scope: string,
    store: (file: StoredFileInfo) => Promise<T>,
    shown?: (stored: T | undefined) => Promise<boolean>,
  ): Promise<T>;
  // Who else may read the files attached under `scope` (attach's sessionId is then `${scope}:${id}`):
  // a module that attaches files to something other than a session (rooms) says who may read them,
  // so uploads never has to import it (no module cycle).
  allowReaders(scope: string, check: (principal: Principal, scopeId: string) => Promise<boolean>): void;
  // Messages under `scope` that held these files are gone (a room message deleted, or removed by
  // retention). `shown` tells which of them a message of the scope still shows (asked again under
  // each file's lock); of the others, the files attached under that scope alone are deleted, bytes
  // first, and files attached elsewhere too stay for those, taken off `scope` (docs/protocol.md,
  // "Rooms, direct messages, moderation"). Returns how many were deleted.
  discard(
    fileIds: string[],
    scope: string,
    shown: (fileIds: string[]) => Promise<Set<string>>,
  ): Promise<number>;
  // the stable app URL of a file (/chat/files/:id, redirects to a fresh signed URL when read):
  // store this in messages, never a signed URL
  urlOf(fileId: string): string;
}

export const FILE_STORE = Symbol('FILE_STORE');

// What a record path returns: the message, and whether it was one stored before (a resend's answer).
export interface StoredMessage {
  message: { file_id?: string | null };
  duplicate: boolean;
}

// A message stored just now (not a resend's answer) that shows the file: its scope shows the file,
// and `attachWhile`'s `shown` needs no read of the store to say so.
export function showsStored(stored: StoredMessage | undefined, fileId: string): boolean {
  return stored !== undefined && !stored.duplicate && stored.message.file_id === fileId;
}

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
  saveGenerated(input: {
    ownerId: string;
    sessionId: string;
    name: string;
    mimeType: string;
    data: Buffer;
  }): Promise<StoredFileInfo>;
  // an uploaded or generated file of this owner, with its bytes (for transcription or LLM context)
  read(fileId: string, ownerId: string): Promise<{ info: StoredFileInfo; data: Buffer }>;
}

export const FILE_STORE = Symbol('FILE_STORE');

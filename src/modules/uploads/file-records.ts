import type { StoredFile } from './schemas/stored-file.schema';

// `deleting`: a sweep or a discard took it to delete its object; never read or attached again.
export type FileStatus = 'pending' | 'ready' | 'deleting';

// Plain file record (never a mongoose document); `name` decrypted.
export interface FileRecord {
  id: string;
  owner_id: string;
  session_id: string | null;
  name: string;
  size: number;
  mime_type: string;
  storage_key: string;
  status: FileStatus;
  source: 'upload' | 'generated';
  scanned: boolean;
  attached: boolean;
  attached_at: Date | null;
  created_at: Date;
  // a pending upload's last sign of life (null on records from before it)
  alive_at?: Date | null;
}

// What the cleanup and discards read of a file: the record without its name, which they never show
// (and never decrypt: a name under a key no longer listed stops no delete).
export type BareFileRecord = Omit<FileRecord, 'name'>;

export type FileDocument = StoredFile;

export function bareRecord(document: FileDocument): BareFileRecord {
  const { _id, name: _name, encrypted_name: _encrypted, ...rest } = document;
  return { ...rest, id: _id, created_at: new Date(rest.created_at) };
}

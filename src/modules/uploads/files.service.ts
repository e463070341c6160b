import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import type { FileStore, StoredFileInfo } from '../../infra/files/file-store';
import { SESSION_LOCK, type Hold } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import {
  STORAGE_DRIVER,
  StorageObjectMissing,
  StorageUnavailable,
  type StorageDriver,
} from '../../infra/storage/storage-driver';
import { SessionsService } from '../sessions/sessions.service';
import { dispositionFor } from './file-rules';
import { FileIntake, fileUrl } from './file-intake.service';
import { fileLockKey, FilesRepository, type FileRecord } from './files.repository';
import { LateScan } from './late-scan';
import { openSignedBlob, type BlobResponse } from './signed-blob';

// a discard judges a file at most this often when attaches keep coming while it judges
const DISCARD_ROUNDS = 3;

export interface SignedLink {
  url: string;
  expires_at: string;
}

// Who may read which file, signed URLs made at read time, and the FileStore port for chat and LLM
// code (read bytes, store generated files, attach to a message).
@Injectable()
export class FilesService implements FileStore {
  private readonly logger = new Logger('files');
  private readonly readers = new Map<string, (principal: Principal, scopeId: string) => Promise<boolean>>();

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly sessions: SessionsService,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly intake: FileIntake,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    private readonly lateScan: LateScan,
  ) {}

  // GET /chat/files/:id — owner, or the admin assisting the file's session; anyone else gets 404.
  async signedLink(principal: Principal, fileId: string): Promise<SignedLink> {
    const file = await this.readable(principal, fileId);
    // stored while scanning was off: scanned before it is served (docs/protocol.md, "Uploads and files")
    await this.lateScan.ensureClean(file);
    const ttlSeconds = Math.max(1, Math.round(this.settings.uploads.signedUrlTtlMs / 1000));
    const url = await this.storage.signedUrl(file.storage_key, {
      ttlSeconds,
      contentType: file.mime_type,
      fileName: file.name,
      disposition: dispositionFor(file.mime_type),
    });
    this.logger.log({ event: 'file_link', user_id: principal.userId, file_id: file.id }, 'signed link made');
    return { url, expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
  }

  allowReaders(scope: string, check: (principal: Principal, scopeId: string) => Promise<boolean>): void {
    this.readers.set(scope, check);
  }

  // A session export's link to one of its files (the reader may read the session: checked by the
  // caller); a file no message of this session shows is left out (undefined). It is signed only for a
  // reader GET /chat/files/:id serves (CONTRACT §3: the owner, the admin assisting the session, and
  // the session's user for an admin's file sent there, not deleted: as `readable`); any other reader
  // (an admin reading the session) gets that stable URL, which answers by the same rule
  // (docs/protocol.md, "Session library").
  async exportLink(
    fileId: string,
    session: { id: string; user_id: string; assisting_admin_id: string | null; deleted?: boolean },
    reader: Principal,
  ): Promise<SignedLink | { url: string } | undefined> {
    // the user's, or an admin's sent while assisting the session (AttachmentsService.record)
    const file =
      (await this.files.findOwned(fileId, session.user_id)) ?? (await this.files.findAnyReady(fileId));
    // any session the file was sent in, not only its first (docs/protocol.md, "Uploads and files")
    if (!file || !(await this.files.isAttachedTo(file.id, file.owner_id, session.id))) return undefined;
    const assisting =
      reader.isAdmin && session.deleted !== true && session.assisting_admin_id === reader.userId;
    const user = reader.userId === session.user_id && session.deleted !== true;
    // not yet scanned: the stable URL, which scans it first (docs/protocol.md, "Uploads and files")
    if ((reader.userId !== file.owner_id && !assisting && !user) || this.lateScan.pending(file))
      return { url: fileUrl(file.id) };
    const ttlSeconds = Math.max(1, Math.round(this.settings.uploads.signedUrlTtlMs / 1000));
    const url = await this.storage.signedUrl(file.storage_key, {
      ttlSeconds,
      contentType: file.mime_type,
      fileName: file.name,
      disposition: dispositionFor(file.mime_type),
    });
    return { url, expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
  }

  // The owner; the members of a room whose message shows the file; the admin assisting a session
  // whose message shows it, and that session's user (an assisting admin's file). Every session and room the file was sent in counts, not only its first:
  // a file sent again in a later session was a 404 for the admin assisting that one
  // (docs/protocol.md, "Uploads and files").
  private async readable(principal: Principal, fileId: string): Promise<FileRecord> {
    const own = await this.files.findOwned(fileId, principal.userId);
    if (own) return own;
    const file = await this.files.findAnyReady(fileId);
    if (file) {
      for (const scope of await this.files.scopesOf(file.id))
        if (await this.mayRead(principal, scope)) return file;
    }
    throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
  }

  // a scope another module registered readers for (a room's members), else a session: its assisting
  // admin, and its user. A session shows only its user's files and those an admin sent while holding
  // its lease (AttachmentsService.record): such a file stays the admin's, and the user it was sent to
  // reads it. Until the contract audit of session 44 an admin's file could not be sent at all.
  private async mayRead(principal: Principal, scope: string): Promise<boolean> {
    const separator = scope.indexOf(':');
    if (separator >= 0) {
      const check = this.readers.get(scope.slice(0, separator));
      return check !== undefined && (await check(principal, scope.slice(separator + 1)));
    }
    const session = await this.sessions.getAny(scope);
    if (!session || session.deleted === true) return false;
    if (principal.isAdmin && session.assisting_admin_id === principal.userId) return true;
    return session.user_id === principal.userId;
  }

  // GET /chat/blob, local disk only (signed-blob.ts)
  openSignedBlob(query: Record<string, unknown>, rangeHeader: string | undefined): Promise<BlobResponse> {
    return openSignedBlob(this.storage, this.lateScan, query, rangeHeader);
  }

  // FileStore: a file the AI produced (speech, an image it sent), kept with the session. It takes the
  // uploads' one path: type by content against UPLOAD_ALLOWED_TYPES, clamd, the owner's quota; a file
  // that fails them is refused with the upload's code, nothing of it stored (docs/protocol.md,
  // "Uploads and files").
  async saveGenerated(input: {
    ownerId: string;
    sessionId: string;
    name: string;
    mimeType: string;
    data: Buffer;
    only?: RegExp;
  }): Promise<StoredFileInfo> {
    try {
      await this.intake.ensureScanner();
      const kept = await this.intake.keep({
        ownerId: input.ownerId,
        source: 'generated',
        sessionId: input.sessionId,
        fileName: input.name,
        declaredType: input.mimeType,
        stream: Readable.from([input.data]),
        limit: { bytes: this.settings.uploads.maxBytes, byQuota: false },
        size: input.data.length,
        only: input.only,
      });
      return { file_id: kept.file_id, name: kept.name, size: kept.size, mime_type: kept.mime_type };
    } catch (error) {
      throw this.intake.explain(input.ownerId, error);
    }
  }

  // FileStore: one of the owner's files, without reading its bytes.
  async info(fileId: string, ownerId: string): Promise<StoredFileInfo> {
    const file = await this.files.findOwned(fileId, ownerId);
    if (!file) throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    return infoOf(file);
  }

  // FileStore: the bytes of one of the owner's files (transcription, LLM context); bounded by its size.
  read(fileId: string, ownerId: string): Promise<{ info: StoredFileInfo; data: Buffer }> {
    return this.readPrefix(fileId, ownerId, Number.MAX_SAFE_INTEGER);
  }

  // At most `maxBytes` from the start of the file (the stream is closed after them).
  async readPrefix(
    fileId: string,
    ownerId: string,
    maxBytes: number,
  ): Promise<{ info: StoredFileInfo; data: Buffer }> {
    const file = await this.files.findOwned(fileId, ownerId);
    if (!file) throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    return this.readRecord(file, maxBytes);
  }

  // `readPrefix` of a file an assisting admin sent into the user's session (a `file_upload` with
  // sender admin: AttachmentsService.record), for that session's model. The file stays the admin's, so
  // it is read as its owner's, and only while this session shows it (its attachment record) and the
  // session is the user's and not deleted: the rule GET /chat/files/:id serves it to that user by
  // (`mayRead`). The user's own file is read as ever; any other is NOT_FOUND, whoever sent it. Until
  // the takeover audit of session 44 it was read as the user's: refused, and the model was told the
  // user had attached it and it was gone while the user still read it (3 of 3 runs;
  // docs/protocol.md, "Takeover handoff").
  async readSentPrefix(
    fileId: string,
    reader: { userId: string; sessionId: string },
    maxBytes: number,
  ): Promise<{ info: StoredFileInfo; data: Buffer }> {
    const own = await this.files.findOwned(fileId, reader.userId);
    if (own) return this.readRecord(own, maxBytes);
    const file = await this.files.findAnyReady(fileId);
    if (!file || !(await this.files.isAttachedTo(file.id, file.owner_id, reader.sessionId)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    const session = await this.sessions.getAny(reader.sessionId);
    if (!session || session.deleted === true || session.user_id !== reader.userId)
      throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    return this.readRecord(file, maxBytes);
  }

  private async readRecord(
    file: FileRecord,
    maxBytes: number,
  ): Promise<{ info: StoredFileInfo; data: Buffer }> {
    // read by the server, not served, but read all the same (a model's context, a transcription):
    // one stored while scanning was off is scanned first, as a download is (docs/protocol.md,
    // "Uploads and files"); until session 39 its text went to the model before the sweep reached it
    await this.lateScan.ensureClean(file);
    // one buffer of the record's size, each chunk copied in as it comes: the chunks and then their
    // concatenation held the file twice at the end of the read (a voice message's 24 MB WAV)
    const data = Buffer.allocUnsafe(Math.min(file.size, maxBytes));
    let length = 0;
    let seen = 0;
    try {
      for await (const chunk of (await this.storage.get(file.storage_key)) as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (seen > file.size) throw new Error(`stored object ${file.id} is larger than its record`);
        length += chunk.copy(data, length, 0, Math.min(chunk.length, data.length - length));
        if (length >= maxBytes) break;
      }
    } catch (error) {
      if (error instanceof StorageObjectMissing)
        throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
      if (error instanceof StorageUnavailable) throw new DomainException(ErrorCode.STORAGE_UNAVAILABLE);
      throw error;
    }
    return { info: infoOf(file), data: length === data.length ? data : data.subarray(0, length) };
  }

  // Under the file's lock, which the cleanup sweep and `discard` take to delete it: a file being
  // deleted waits, then is refused (NOT_FOUND: upload it again; nothing is acked). The sweep deleted a
  // file a message was acked with meanwhile (docs/protocol.md, "Uploads and files").
  attach(fileId: string, ownerId: string, sessionId: string): Promise<StoredFileInfo> {
    return this.attachWhile(fileId, ownerId, sessionId, (file) => Promise.resolve(file));
  }

  // `attach`, then `store` (the message that shows the file) still under the file's lock: a `discard`
  // judging whether `scope` still shows the file waits for that message, and sees it. A room delete
  // that judged while a send of the same file was between its attach and its store took the file
  // off the room (or deleted it) under the new message (docs/protocol.md, "Rooms, direct messages,
  // moderation").
  // `shown`, when given, says whether a message of `scope` shows the file once `store` is done: one
  // that stored nothing (a resend of a message stored before, answered with that one; a send refused
  // at its store) takes the attachment back (FilesRepository.release). Until a rooms audit in session
  // 39 it stayed: a resend's client_id with another upload of the sender's made that file readable
  // by every member of the room, and no delete or retention ever took it off (3 of 3 runs).
  async attachWhile<T>(
    fileId: string,
    ownerId: string,
    scope: string,
    store: (file: StoredFileInfo) => Promise<T>,
    shown?: (stored: T | undefined) => Promise<boolean>,
  ): Promise<T> {
    // A file stored while scanning was off is scanned before a message may show it, as before it is
    // served or read (docs/protocol.md, "Uploads and files"): read under the file's lock, it is let
    // go, scanned (the verdict takes the lock) and read again. Until the room files audit of session
    // 41 an EICAR file uploaded with scanning off and sent into a room after a restart with it on was
    // acked and fanned out: every member was offered a link the first download found infected (5 of
    // 5 runs).
    for (;;) {
      const attached = await this.lock.run(fileLockKey(fileId), async (hold): Promise<Attached<T>> => {
        const file = await this.files.findOwned(fileId, ownerId);
        if (file && this.lateScan.pending(file)) return { kind: 'unscanned', file };
        if (!file || !(await this.files.markAttached(fileId, ownerId, scope, new Date())))
          throw new DomainException(ErrorCode.NOT_FOUND, 'File not found; upload it first.');
        const release = async (stored: T | undefined) => {
          if (shown && !(await shown(stored))) await this.files.release(fileId, scope);
        };
        let result: T;
        try {
          // a hold lost (this instance paused past the key) may have let a delete of the file judge
          // without this message: nothing is stored, the client retries (docs/protocol.md, "Uploads
          // and files")
          if (hold.lost()) throw new DomainException(ErrorCode.INTERNAL, 'Busy here; please retry.');
          result = await store(infoOf(file));
        } catch (error) {
          await release(undefined).catch(() => undefined);
          throw error;
        }
        await release(result);
        return { kind: 'attached', result };
      });
      if (attached.kind === 'attached') return attached.result;
      // clean: marked scanned, and the next read attaches it; infected or unscannable: thrown
      await this.lateScan.ensureClean(attached.file);
    }
  }

  // `scope` lost messages that showed these files. Each file `shown` says no message of the scope
  // still shows is judged under its lock (`shown` asked again there): attached under `scope` alone,
  // it is deleted, bytes first; attached elsewhere too, it is kept for those and taken off `scope`
  // (its attachment record goes), so a room's members no longer read it. Until the privacy audit fix
  // the record stayed: the members read a file taken off their room for good.
  async discard(
    fileIds: string[],
    scope: string,
    shown: (fileIds: string[]) => Promise<Set<string>>,
  ): Promise<number> {
    const ids = [...new Set(fileIds)];
    if (ids.length === 0) return 0;
    const inUse = await shown(ids);
    let discarded = 0;
    for (const id of ids.filter((fileId) => !inUse.has(fileId))) {
      // judged again, under a new hold, when an attach came while it was judged (or the hold was lost)
      for (let round = 0; round < DISCARD_ROUNDS; round++) {
        const done = await this.lock.run(fileLockKey(id), (hold) => this.discardOne(id, scope, shown, hold));
        if (done === 'again') continue;
        if (done === 'deleted') discarded++;
        break;
      }
    }
    return discarded;
  }

  // One file of `discard`, under its lock. Until the files audit of session 44 an instance paused past
  // the lock's key (SIGSTOP 7 s) with its markDeleting in flight resumed and deleted a file another
  // instance had meanwhile attached to a message in a session and acked (4 of 4 runs); the mark is
  // now checked against what was judged (FilesRepository.markDeletingAsJudged).
  private async discardOne(
    id: string,
    scope: string,
    shown: (fileIds: string[]) => Promise<Set<string>>,
    hold: Hold,
  ): Promise<'deleted' | 'kept' | 'again'> {
    const judged = await this.files.judged(id);
    if (!judged || (await shown([id])).has(id)) return 'kept';
    const [file] = await this.files.findAttachedOnlyTo([id], scope);
    if (!file) {
      if (hold.lost()) return 'again';
      await this.files.detach(id, scope);
      return 'kept';
    }
    if (!(await this.files.markDeletingAsJudged(id, judged, hold))) return 'again';
    // object first: a record without an object is harmless, an object without a record is a leak
    await this.storage.delete(file.storage_key);
    await this.files.remove(id);
    return 'deleted';
  }

  urlOf(fileId: string): string {
    return fileUrl(fileId);
  }
}

function infoOf(file: FileRecord): StoredFileInfo {
  return { file_id: file.id, name: file.name, size: file.size, mime_type: file.mime_type };
}

// what one look at a file under its lock did: attached it, or found it still to be scanned
type Attached<T> = { kind: 'attached'; result: T } | { kind: 'unscanned'; file: FileRecord };

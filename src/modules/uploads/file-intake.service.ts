import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { newId } from '../../common/ids';
import { SETTINGS, type Settings } from '../../config/settings';
import {
  ClamdScanner,
  ScanInputStalled,
  ScannerUnavailable,
  ScanSizeLimit,
} from '../../infra/scanner/clamd.scanner';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { STORAGE_DRIVER, StorageUnavailable, type StorageDriver } from '../../infra/storage/storage-driver';
import { displayName, formatBytes, isTextType, looksLikeText, resolveMimeType } from './file-rules';
import { sniffedType } from './sniffed-type';
import { FilesRepository, PENDING_HEARTBEAT_MS, RESERVATION_LIFE_MS } from './files.repository';
import { LimitCrossed } from './multipart-reader';
import { keepPendingAlive, recordGone, streamOut } from './upload-pipeline';
import { openSource } from './upload-source';
import { ReservationWatch } from './reservation-watch';
import { MALWARE_SCANNER } from './malware-scanner';

export { MALWARE_SCANNER };

export interface UploadView {
  file_id: string;
  file_url: string;
  name: string;
  size: number;
  mime_type: string;
}

// The most bytes a file may have: the per-file limit, or less when the owner's quota is nearly used.
export interface ByteLimit {
  bytes: number;
  byQuota: boolean;
}

// The stable app URL of a file (no signature: it redirects to a fresh signed URL when read).
export function fileUrl(fileId: string): string {
  return `/chat/files/${encodeURIComponent(fileId)}`;
}

export function storageKeyFor(ownerId: string, fileId: string): string {
  return `files/${createHash('sha256').update(ownerId).digest('hex').slice(0, 16)}/${fileId}`;
}

export interface IntakeInput {
  ownerId: string;
  source: 'upload' | 'generated';
  // a generated file is kept with its session at once; an upload is bound by its first message
  sessionId: string | null;
  fileName: string | undefined;
  declaredType: string | undefined;
  stream: Readable;
  limit: ByteLimit;
  // known before the bytes come (a generated file): more than the room left is refused unstored
  size?: number;
  // the types of UPLOAD_ALLOWED_TYPES it may be stored as (a reply's speech: audio only)
  only?: RegExp;
}

// The one way a file's bytes come into storage, an upload's or a file an AI reply brings: type by
// content → room in the owner's quota → storage and clamd from one stream → readable only once
// stored and clean (docs/protocol.md, "Uploads and files"). Failures are thrown; `explain` names them.
@Injectable()
export class FileIntake {
  private readonly logger = new Logger('uploads');

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(MALWARE_SCANNER) private readonly scanner: ClamdScanner | null,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  async keep(input: IntakeInput): Promise<UploadView> {
    const { ownerId, limit } = input;
    const source = await openSource(input.stream);
    if (source.head.length === 0) throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The file is empty.');
    const detected = await sniffedType(source.head);
    const mimeType = resolveMimeType({
      detected,
      isText: detected === undefined && looksLikeText(source.head),
      declared: input.declaredType,
      allowed: input.only
        ? this.settings.uploads.allowedTypes.filter((type) => input.only?.test(type))
        : this.settings.uploads.allowedTypes,
    });
    if (!mimeType) {
      input.stream.destroy();
      throw new DomainException(ErrorCode.UNSUPPORTED_FILE_TYPE, this.typeMessage(detected));
    }
    const id = newId();
    const key = storageKeyFor(ownerId, id);
    const name = displayName(input.fileName, mimeType);
    // The file's room in the quota is taken before its bytes come, under the owner's lock (on every
    // instance): uploads at once each saw the same room left and together overshot the quota
    // (README, "Uploads"). The room is what is left now, at most the file's limit.
    let watch!: ReservationWatch;
    const room = await this.lock.run(`uploads:${ownerId}`, async () => {
      const left = await this.limitFor(ownerId);
      const bytes = Math.min(left.bytes, limit.bytes);
      if (bytes <= 0 || (input.size ?? 0) > bytes)
        throw this.tooLarge(left.bytes <= limit.bytes ? left : limit);
      watch = new ReservationWatch(RESERVATION_LIFE_MS);
      await this.files.createPending({
        id,
        ownerId,
        sessionId: input.sessionId,
        name,
        mimeType,
        storageKey: key,
        source: input.source,
        attached: input.sessionId !== null,
        reserved: input.size ?? bytes,
        now: new Date(watch.reservedAt.wall),
      });
      return { bytes: input.size ?? bytes };
    });
    const alive = keepPendingAlive(this.files, id, this.logger, ownerId, watch);
    try {
      const verdict = await streamOut({
        body: source.body(isTextType(mimeType)),
        key,
        mimeType,
        storage: this.storage,
        scanner: this.scanner,
        stop: alive.gone,
      });
      if (!verdict.clean) {
        // the object is deleted below, like every file that is not kept
        this.logger.warn(
          {
            event: 'upload_infected',
            user_id: ownerId,
            file_id: id,
            source: input.source,
            signature: verdict.signature,
          },
          'file rejected: malware found',
        );
        throw new DomainException(ErrorCode.FILE_REJECTED, 'The file was rejected: it contains malware.');
      }
      if (source.bytes > room.bytes) throw new LimitCrossed(room.bytes);
      await this.markReady(id, ownerId, source.bytes, watch);
    } catch (error) {
      if (error instanceof StorageUnavailable) await this.discardLater(id, key, ownerId);
      else await this.discard(id, key);
      throw error;
    } finally {
      alive.stop();
    }
    this.logger.log(
      {
        event: 'upload_stored',
        user_id: ownerId,
        file_id: id,
        source: input.source,
        size: source.bytes,
        mime_type: mimeType,
      },
      'file stored',
    );
    return { file_id: id, file_url: fileUrl(id), name, size: source.bytes, mime_type: mimeType };
  }

  // The file becomes readable, in its owner's quota. Its room there counted while its record was
  // touched within RESERVATION_LIFE_MS: when the watch saw a beat come later than that (the instance
  // paused: SIGSTOP, a long GC), or the last one is nearly that old, another upload of the owner may
  // have been given the room meanwhile, so the file is checked again, under the owner's lock, against
  // what the other files keep now, and refused QUOTA_EXCEEDED if it no longer fits (the caller
  // discards it). Until the uploads audit of session 44 only the room reserved at the start was
  // checked: an upload on an instance paused 14 s was kept beside the 150 000-byte file the other
  // instance took its room for, 300 000 bytes of a 200 000-byte quota (3 of 3 runs)
  // (docs/protocol.md, "Uploads and files").
  private async markReady(id: string, ownerId: string, size: number, watch: ReservationWatch): Promise<void> {
    const ready = () => this.files.markReady(id, { size, scanned: this.scanner !== null });
    // one beat spared for the check itself: the room must still count when the record turns ready
    const kept = !watch.mayHaveLapsed(PENDING_HEARTBEAT_MS)
      ? await ready()
      : await this.lock.run(`uploads:${ownerId}`, async () => {
          const left =
            this.settings.uploads.quotaBytes - (await this.files.usedBytes(ownerId, new Date(), id));
          if (size > left) {
            this.logger.warn(
              { event: 'upload_reservation_lapsed', user_id: ownerId, file_id: id, size, left },
              'upload refused: its room in the quota was given to another meanwhile',
            );
            throw this.tooLarge({ bytes: Math.max(0, left), byQuota: true });
          }
          return ready();
        });
    // the cleanup may have swept the record meanwhile: a 201 then named a file that 404s forever,
    // whose bytes stayed in storage outside every quota
    if (!kept) {
      this.logger.warn({ event: 'upload_record_gone', user_id: ownerId, file_id: id }, 'upload dropped');
      throw recordGone();
    }
  }

  // Fail closed: without a working scanner nothing is accepted. Asked before any byte is taken: a
  // clamd that does not answer costs the PING's 2 s, not CLAMAV_TIMEOUT per file.
  async ensureScanner(): Promise<void> {
    if (this.scanner && !(await this.scanner.ping())) throw new ScannerUnavailable('no answer to PING');
  }

  // The bytes a file may have: the per-file limit, or less when the owner's quota is nearly used.
  async limitFor(ownerId: string): Promise<ByteLimit> {
    const remaining = this.settings.uploads.quotaBytes - (await this.files.usedBytes(ownerId));
    const max = this.settings.uploads.maxBytes;
    return remaining < max
      ? { bytes: Math.max(0, remaining), byQuota: true }
      : { bytes: max, byQuota: false };
  }

  tooLarge(limit: ByteLimit): DomainException {
    if (limit.byQuota) {
      return new DomainException(
        ErrorCode.QUOTA_EXCEEDED,
        `Your upload storage is full: ${formatBytes(limit.bytes)} left of ${formatBytes(this.settings.uploads.quotaBytes)}.`,
      );
    }
    return new DomainException(
      ErrorCode.FILE_TOO_LARGE,
      `The file is larger than the limit of ${formatBytes(this.settings.uploads.maxBytes)}.`,
    );
  }

  // Every failure of `keep` (and of the upload around it) as a clear domain error.
  explain(ownerId: string, error: unknown): DomainException {
    if (error instanceof DomainException) return error;
    if (error instanceof LimitCrossed)
      return this.tooLarge({ bytes: error.limit, byQuota: error.limit < this.settings.uploads.maxBytes });
    if (error instanceof ScanSizeLimit) {
      // clamd's StreamMaxLength should be at least UPLOAD_MAX_BYTES (docs/operations.md, CLAMAV_HOST)
      this.logger.warn(
        { event: 'scanner_size_limit', user_id: ownerId, err: error.message },
        "file past clamd's StreamMaxLength",
      );
      return new DomainException(
        ErrorCode.FILE_TOO_LARGE,
        'The file is larger than the malware scanner accepts.',
      );
    }
    if (error instanceof ScanInputStalled) {
      // clamd stopped waiting for bytes that did not come: the upload paused past clamd's ReadTimeout
      this.logger.warn({ event: 'upload_stalled', user_id: ownerId, err: error.message }, 'upload stalled');
      return new DomainException(
        ErrorCode.INVALID_MESSAGE,
        'The upload paused too long and was dropped; please send the file again.',
      );
    }
    if (error instanceof StorageUnavailable) {
      this.logger.error(
        { event: 'storage_unavailable', user_id: ownerId, err: error.detail },
        'file storage not answering',
      );
      return new DomainException(ErrorCode.STORAGE_UNAVAILABLE);
    }
    if (error instanceof ScannerUnavailable) {
      this.logger.error(
        { event: 'scanner_unavailable', user_id: ownerId, err: error.message },
        'scanner down',
      );
      return new DomainException(ErrorCode.SCANNER_UNAVAILABLE);
    }
    this.logger.error({ event: 'upload_failed', user_id: ownerId, err: String(error) }, 'upload failed');
    return new DomainException(ErrorCode.INTERNAL, 'The file could not be stored; please try again.');
  }

  private async discard(id: string, key: string): Promise<void> {
    await this.storage
      .delete(key)
      .catch((error: unknown) =>
        this.logger.error(
          { event: 'upload_discard_failed', file_id: id, err: String(error) },
          'discard failed',
        ),
      );
    await this.files.remove(id);
  }

  // Storage did not answer: deleting the object now would hold the answer for as long again. The
  // reservation is given back at once (the record stays `pending`, of no size), the delete goes on
  // alone, and when it fails too the cleanup deletes the object, then the record, once the record is
  // untouched long enough (docs/protocol.md, "Uploads and files").
  private async discardLater(id: string, key: string, ownerId: string): Promise<void> {
    await this.files.releasePending(id);
    // object first: a record without an object is harmless, an object without a record is a leak
    void this.storage
      .delete(key)
      .then(() => this.files.remove(id))
      .catch((error: unknown) =>
        this.logger.warn(
          { event: 'upload_discard_deferred', user_id: ownerId, file_id: id, err: String(error) },
          'object not deleted yet; the cleanup will',
        ),
      );
  }

  private typeMessage(detected: string | undefined): string {
    const what = detected ? `Files of type ${detected}` : 'Files of this type';
    return `${what} are not accepted. Allowed: ${this.settings.uploads.allowedTypes.join(', ')}.`;
  }
}

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { fromBuffer } from 'file-type';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import {
  ClamdScanner,
  ScanInputStalled,
  ScannerUnavailable,
  ScanSizeLimit,
} from '../../infra/scanner/clamd.scanner';
import { STORAGE_DRIVER, type StorageDriver } from '../../infra/storage/storage-driver';
import { displayName, looksLikeText, resolveMimeType, isTextType } from './file-rules';
import { FilesRepository } from './files.repository';
import { LimitCrossed, readMultipartFile, type IncomingFile } from './multipart-reader';
import { UploadMetrics, type UploadResult } from './upload-metrics';
import { keepPendingAlive, recordGone, streamOut } from './upload-pipeline';
import { openSource } from './upload-source';
import { newId } from '../../common/ids';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';

export const MALWARE_SCANNER = Symbol('MALWARE_SCANNER');
const RATE_WINDOW_MS = 60_000;
// multipart boundaries and part headers around the file; a Content-Length past limit + this is refused
// before a byte is read
const MULTIPART_SLACK_BYTES = 64 * 1024;

export interface UploadView {
  file_id: string;
  file_url: string;
  name: string;
  size: number;
  mime_type: string;
}

// The stable app URL of a file (no signature: it redirects to a fresh signed URL when read).
export function fileUrl(fileId: string): string {
  return `/chat/files/${encodeURIComponent(fileId)}`;
}

export function storageKeyFor(ownerId: string, fileId: string): string {
  return `files/${createHash('sha256').update(ownerId).digest('hex').slice(0, 16)}/${fileId}`;
}

// POST /chat/uploads: quota → type by content → storage and clamd in parallel from one stream →
// the record becomes readable only once stored and clean.
@Injectable()
export class UploadsService implements OnModuleInit {
  private readonly logger = new Logger('uploads');

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(MALWARE_SCANNER) private readonly scanner: ClamdScanner | null,
    private readonly metrics: UploadMetrics,
    @Inject(ThrottlerStorage) private readonly throttler: ThrottlerStorage,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  onModuleInit(): void {
    if (this.scanner)
      this.logger.log({ event: 'scanner', clamd: this.scanner.address }, 'malware scanning on');
    else this.logger.warn({ event: 'scanner_off' }, 'malware scanning is off: CLAMAV_HOST is not set');
  }

  async upload(principal: Principal, request: IncomingMessage): Promise<UploadView> {
    const userId = principal.userId;
    try {
      const limit = await this.checkQuotas(userId);
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit.bytes + MULTIPART_SLACK_BYTES)
        throw this.tooLarge(limit);
      // fail closed: without a working scanner nothing is accepted
      if (this.scanner && !(await this.scanner.ping())) throw new ScannerUnavailable('no answer to PING');
      return await readMultipartFile(request, limit.bytes, (file) => this.store(userId, file, limit));
    } catch (error) {
      throw this.explain(userId, error);
    }
  }

  private async store(
    ownerId: string,
    file: IncomingFile,
    limit: { bytes: number; byQuota: boolean },
  ): Promise<UploadView> {
    const source = await openSource(file.stream);
    if (source.head.length === 0) throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The file is empty.');
    const detected = (await fromBuffer(source.head))?.mime;
    const mimeType = resolveMimeType({
      detected,
      isText: detected === undefined && looksLikeText(source.head),
      declared: file.declaredType,
      allowed: this.settings.uploads.allowedTypes,
    });
    if (!mimeType) {
      file.stream.destroy();
      throw new DomainException(ErrorCode.UNSUPPORTED_FILE_TYPE, this.typeMessage(detected));
    }
    const id = newId();
    const key = storageKeyFor(ownerId, id);
    const name = displayName(file.fileName, mimeType);
    // The upload's room in the quota is taken before its bytes come, under the user's lock (on every
    // instance): uploads at once each saw the same room left and together overshot the quota
    // (README, "Uploads"). The room is what is left now, at most the request's limit.
    const room = await this.lock.run(`uploads:${ownerId}`, async () => {
      const left = await this.limitFor(ownerId);
      const bytes = Math.min(left.bytes, limit.bytes);
      if (bytes <= 0) throw this.tooLarge(left);
      await this.files.createPending({
        id,
        ownerId,
        sessionId: null,
        name,
        mimeType,
        storageKey: key,
        source: 'upload',
        reserved: bytes,
        now: new Date(),
      });
      return { bytes };
    });
    const alive = keepPendingAlive(this.files, id, this.logger, ownerId);
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
        // the object is deleted below, like every upload that is not kept
        this.metrics.count('infected');
        this.logger.warn(
          { event: 'upload_infected', user_id: ownerId, file_id: id, signature: verdict.signature },
          'upload rejected: malware found',
        );
        throw new DomainException(ErrorCode.FILE_REJECTED, 'The file was rejected: it contains malware.');
      }
      if (source.bytes > room.bytes) throw new LimitCrossed(room.bytes);
      // the cleanup may have swept the record meanwhile: a 201 then named a file that 404s forever,
      // whose bytes stayed in storage outside every quota
      if (!(await this.files.markReady(id, { size: source.bytes, scanned: this.scanner !== null }))) {
        this.logger.warn({ event: 'upload_record_gone', user_id: ownerId, file_id: id }, 'upload dropped');
        throw recordGone();
      }
    } catch (error) {
      await this.discard(id, key);
      throw error;
    } finally {
      alive.stop();
    }
    this.metrics.count('stored', source.bytes);
    this.logger.log(
      { event: 'upload_stored', user_id: ownerId, file_id: id, size: source.bytes, mime_type: mimeType },
      'upload stored',
    );
    return { file_id: id, file_url: fileUrl(id), name, size: source.bytes, mime_type: mimeType };
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

  private async checkQuotas(userId: string): Promise<{ bytes: number; byQuota: boolean }> {
    const limit = this.settings.uploads.ratePerMinute;
    const record = await this.throttler.increment(`upload:${userId}`, RATE_WINDOW_MS, limit, 0, 'upload');
    if (record.totalHits > limit) {
      throw new DomainException(
        ErrorCode.RATE_LIMITED,
        `At most ${limit} uploads a minute; try again shortly.`,
        {
          retryAfterMs: Math.max(1000, record.timeToExpire * 1000),
        },
      );
    }
    const quota = await this.limitFor(userId);
    if (quota.bytes <= 0) throw this.tooLarge(quota);
    return quota;
  }

  // The bytes this upload may have: the per-file limit, or less when the user's quota is nearly used.
  private async limitFor(userId: string): Promise<{ bytes: number; byQuota: boolean }> {
    const remaining = this.settings.uploads.quotaBytes - (await this.files.usedBytes(userId));
    const max = this.settings.uploads.maxBytes;
    return remaining < max
      ? { bytes: Math.max(0, remaining), byQuota: true }
      : { bytes: max, byQuota: false };
  }

  private tooLarge(limit: { bytes: number; byQuota: boolean }): DomainException {
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

  private typeMessage(detected: string | undefined): string {
    const what = detected ? `Files of type ${detected}` : 'Files of this type';
    return `${what} are not accepted. Allowed: ${this.settings.uploads.allowedTypes.join(', ')}.`;
  }

  // Maps every failure to a clear domain error, counted by outcome.
  private explain(userId: string, error: unknown): DomainException {
    let result: UploadResult = 'error';
    let exception: DomainException;
    if (error instanceof LimitCrossed) {
      exception = this.tooLarge({
        bytes: error.limit,
        byQuota: error.limit < this.settings.uploads.maxBytes,
      });
    } else if (error instanceof ScanSizeLimit) {
      // clamd's StreamMaxLength should be at least UPLOAD_MAX_BYTES (docs/operations.md, CLAMAV_HOST)
      this.logger.warn(
        { event: 'scanner_size_limit', user_id: userId, err: error.message },
        "upload past clamd's StreamMaxLength",
      );
      exception = new DomainException(
        ErrorCode.FILE_TOO_LARGE,
        'The file is larger than the malware scanner accepts.',
      );
    } else if (error instanceof ScanInputStalled) {
      // clamd stopped waiting for bytes that did not come: the upload paused past clamd's ReadTimeout
      this.logger.warn({ event: 'upload_stalled', user_id: userId, err: error.message }, 'upload stalled');
      exception = new DomainException(
        ErrorCode.INVALID_MESSAGE,
        'The upload paused too long and was dropped; please send the file again.',
      );
    } else if (error instanceof ScannerUnavailable) {
      this.logger.error(
        { event: 'scanner_unavailable', user_id: userId, err: error.message },
        'scanner down',
      );
      exception = new DomainException(ErrorCode.SCANNER_UNAVAILABLE);
    } else if (error instanceof DomainException) {
      exception = error;
    } else {
      this.logger.error({ event: 'upload_failed', user_id: userId, err: String(error) }, 'upload failed');
      exception = new DomainException(ErrorCode.INTERNAL, 'The file could not be stored; please try again.');
    }
    switch (exception.code) {
      case ErrorCode.FILE_TOO_LARGE:
        result = 'too_large';
        break;
      case ErrorCode.QUOTA_EXCEEDED:
      case ErrorCode.RATE_LIMITED:
        result = 'quota';
        break;
      case ErrorCode.UNSUPPORTED_FILE_TYPE:
        result = 'type';
        break;
      case ErrorCode.SCANNER_UNAVAILABLE:
        result = 'scanner_down';
        break;
      case ErrorCode.FILE_REJECTED:
        return exception;
    }
    this.metrics.count(result);
    return exception;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(1))} ${units[unit]}`;
}

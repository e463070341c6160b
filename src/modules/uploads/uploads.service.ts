import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { spendBudget } from '../../infra/bus/cell-rate.storage';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { ClamdScanner } from '../../infra/scanner/clamd.scanner';
import { FileIntake, MALWARE_SCANNER, type ByteLimit, type UploadView } from './file-intake.service';
import { readMultipartFile } from './multipart-reader';
import { UploadMetrics, type UploadResult } from './upload-metrics';

// the scanner's DI token is the intake's; the health module takes it from here
export { MALWARE_SCANNER } from './file-intake.service';

const RATE_WINDOW_MS = 60_000;
// multipart boundaries and part headers around the file; a Content-Length past limit + this is refused
// before a byte is read
const MULTIPART_SLACK_BYTES = 64 * 1024;

// POST /chat/uploads: rate and quota → the multipart field `file` → the file intake (type by content,
// storage and clamd in parallel from one stream, readable only once stored and clean), counted by
// outcome.
@Injectable()
export class UploadsService implements OnModuleInit {
  private readonly logger = new Logger('uploads');

  constructor(
    private readonly intake: FileIntake,
    @Inject(MALWARE_SCANNER) private readonly scanner: ClamdScanner | null,
    private readonly metrics: UploadMetrics,
    @Inject(ThrottlerStorage) private readonly throttler: ThrottlerStorage,
    @Inject(SETTINGS) private readonly settings: Settings,
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
        throw this.intake.tooLarge(limit);
      await this.intake.ensureScanner();
      const view = await readMultipartFile(request, limit.bytes, (file) =>
        this.intake.keep({
          ownerId: userId,
          source: 'upload',
          sessionId: null,
          fileName: file.fileName,
          declaredType: file.declaredType,
          stream: file.stream,
          limit,
        }),
      );
      this.metrics.count('stored', view.size);
      return view;
    } catch (error) {
      const exception = this.intake.explain(userId, error);
      this.metrics.count(resultOf(exception));
      throw exception;
    }
  }

  private async checkQuotas(userId: string): Promise<ByteLimit> {
    const limit = this.settings.uploads.ratePerMinute;
    await spendBudget(this.throttler, {
      bucket: 'upload',
      userId,
      limit,
      windowMs: RATE_WINDOW_MS,
      minRetryMs: 1000,
      message: `At most ${limit} uploads a minute; try again shortly.`,
    });
    const quota = await this.intake.limitFor(userId);
    if (quota.bytes <= 0) throw this.intake.tooLarge(quota);
    return quota;
  }
}

// The outcome an upload is counted under (chatbox_uploads_total).
function resultOf(exception: DomainException): UploadResult {
  switch (exception.code) {
    case ErrorCode.FILE_TOO_LARGE:
      return 'too_large';
    case ErrorCode.QUOTA_EXCEEDED:
    case ErrorCode.RATE_LIMITED:
      return 'quota';
    case ErrorCode.UNSUPPORTED_FILE_TYPE:
      return 'type';
    case ErrorCode.SCANNER_UNAVAILABLE:
      return 'scanner_down';
    case ErrorCode.STORAGE_UNAVAILABLE:
      return 'storage_down';
    case ErrorCode.FILE_REJECTED:
      return 'infected';
    default:
      return 'error';
  }
}

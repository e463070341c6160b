import { hkdfSync } from 'node:crypto';
import { resolve } from 'node:path';
import { Global, Logger, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { SETTINGS, type Settings } from '../../config/settings';
import { FILE_STORE } from '../../infra/files/file-store';
import { ClamdScanner } from '../../infra/scanner/clamd.scanner';
import { LocalDiskStorage } from '../../infra/storage/local-disk.storage';
import { STORAGE_DRIVER, type StorageDriver } from '../../infra/storage/storage-driver';
import { SessionsModule } from '../sessions/sessions.module';
import { AttachmentsService } from './attachments.service';
import { BlobController } from './blob.controller';
import { FileContextService } from './file-context.service';
import { FileIntake, MALWARE_SCANNER } from './file-intake.service';
import { FileNameRotationService } from './file-name-rotation.service';
import { FILES_CIPHER, FilesRepository } from './files.repository';
import { FilesService } from './files.service';
import { LateScan } from './late-scan';
import { LateScanSweep } from './late-scan-sweep';
import { FileAttachment, FileAttachmentSchema } from './schemas/file-attachment.schema';
import { StoredFile, StoredFileSchema } from './schemas/stored-file.schema';
import { UPLOAD_METRIC_PROVIDERS, UploadMetrics } from './upload-metrics';
import { SessionFiles } from './session-files';
import { UploadsCleanup } from './uploads-cleanup';
import { UploadsController } from './uploads.controller';
import { UploadsService } from './uploads.service';

// S3 when S3_BUCKET is set, else local disk; local URLs are signed with a key derived from
// ENCRYPTION_KEY, so every instance of a deployment signs and verifies alike.
async function createStorage(settings: Settings): Promise<StorageDriver> {
  const s3 = settings.uploads.s3;
  if (!s3) {
    const key = Buffer.from(hkdfSync('sha256', settings.encryption.key, '', 'chatbox local file urls', 32));
    return new LocalDiskStorage(resolve(settings.uploads.localDir), key);
  }
  // the AWS SDK (~5.6 MB of heap) is loaded only for a deployment that uses S3
  const { S3Storage } = await import('../../infra/storage/s3.storage');
  const storage = new S3Storage(s3);
  await storage.ensureBucket().catch((error: unknown) => {
    new Logger('uploads').warn(
      { event: 's3_bucket_check_failed', err: String(error) },
      'S3 bucket not reachable',
    );
  });
  return storage;
}

// Uploads, downloads and the FILE_STORE port (global: chat and LLM code read and store files).
@Global()
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: StoredFile.name, schema: StoredFileSchema },
      { name: FileAttachment.name, schema: FileAttachmentSchema },
    ]),
    SessionsModule,
  ],
  controllers: [UploadsController, BlobController],
  providers: [
    ...UPLOAD_METRIC_PROVIDERS,
    UploadMetrics,
    FilesRepository,
    FileNameRotationService,
    {
      provide: FILES_CIPHER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
    },
    FileIntake,
    UploadsService,
    FilesService,
    LateScan,
    LateScanSweep,
    AttachmentsService,
    FileContextService,
    UploadsCleanup,
    SessionFiles,
    { provide: STORAGE_DRIVER, inject: [SETTINGS], useFactory: createStorage },
    {
      provide: MALWARE_SCANNER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) => {
        const clamav = settings.uploads.clamav;
        return clamav ? new ClamdScanner(clamav.host, clamav.port, clamav.timeoutMs) : null;
      },
    },
    { provide: FILE_STORE, useExisting: FilesService },
  ],
  exports: [
    FILE_STORE,
    MALWARE_SCANNER,
    STORAGE_DRIVER,
    AttachmentsService,
    FileContextService,
    FilesService,
    // the purge of deleted sessions finds their files
    SessionFiles,
  ],
})
export class UploadsModule {}

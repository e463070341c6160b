import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Settings } from '../../config/uploads.settings';
import { describeFailure, isMissing, isUnavailable } from './s3-errors';
import {
  contentDisposition,
  servedContentType,
  type SignedUrlOptions,
  type StorageDriver,
  type StorageHealth,
  StorageObjectMissing,
  StorageUnavailable,
} from './storage-driver';

// 8 MiB parts (S3's minimum is 5 MiB): a stream of unknown length goes up part by part, so at most
// one part per upload is in memory. Files smaller than one part are a single PutObject.
export const PART_BYTES = 8 * 1024 * 1024;
// Readiness: one HeadBucket at a time per instance, its answer reused for a few seconds, so probes
// from every instance and every load balancer do not turn into a request each against S3.
export const HEALTH_TIMEOUT_MS = 1500;
export const HEALTH_CACHE_MS = 5000;

// Any S3-compatible endpoint (AWS, MinIO, Ceph, R2…); path-style addressing is a setting.
export class S3Storage implements StorageDriver {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly timeoutMs: number;
  private lastHealth?: { at: number; result: Promise<StorageHealth> };

  constructor(
    settings: S3Settings,
    private readonly now: () => number = Date.now,
  ) {
    this.bucket = settings.bucket;
    this.timeoutMs = settings.timeoutMs;
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      credentials:
        settings.accessKeyId && settings.secretAccessKey
          ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
          : undefined,
      // only the checksums S3 requires: several S3-compatible servers reject the newer defaults
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK waits for ever by default: an S3 that accepted the connection and then sent nothing
      // (MinIO stopped, a stuck proxy) held an upload, its quota and its connection for minutes
      // (docs/protocol.md, "Uploads and files"). `socketTimeout` is the socket's idle time, not the
      // request's total (the SDK's `requestTimeout`): a large part on a slow link is never cut
      // while its bytes move. Each of the SDK's three attempts gets both.
      requestHandler: { connectionTimeout: settings.timeoutMs, socketTimeout: settings.timeoutMs },
    });
  }

  // Creates the bucket when it does not exist (dev and tests; production buckets exist already).
  async ensureBucket(): Promise<void> {
    try {
      await this.guard(this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
    } catch (error) {
      if (error instanceof StorageUnavailable) throw error;
      await this.guard(this.client.send(new CreateBucketCommand({ Bucket: this.bucket })));
    }
  }

  async put(key: string, body: Readable, contentType: string): Promise<{ size: number }> {
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    const sendPart = async (data: Buffer): Promise<void> => {
      uploadId ??= (
        await this.guard(
          this.client.send(
            new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType }),
          ),
        )
      ).UploadId;
      const partNumber = parts.length + 1;
      const { ETag } = await this.guard(
        this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: data,
            ContentLength: data.length,
          }),
        ),
      );
      parts.push({ ETag, PartNumber: partNumber });
    };
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        size += chunk.length;
        if (pendingBytes < PART_BYTES) continue;
        const joined = Buffer.concat(pending);
        let offset = 0;
        for (; joined.length - offset >= PART_BYTES; offset += PART_BYTES)
          await sendPart(joined.subarray(offset, offset + PART_BYTES));
        const rest = joined.subarray(offset);
        pending = rest.length > 0 ? [Buffer.from(rest)] : [];
        pendingBytes = rest.length;
      }
      const last = Buffer.concat(pending);
      if (uploadId === undefined) {
        await this.guard(
          this.client.send(
            new PutObjectCommand({
              Bucket: this.bucket,
              Key: key,
              Body: last,
              ContentLength: last.length,
              ContentType: contentType,
            }),
          ),
        );
        return { size };
      }
      if (last.length > 0) await sendPart(last);
      await this.guard(
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
      return { size };
    } catch (error) {
      if (uploadId !== undefined) {
        const abort = this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
        // an S3 that does not answer would hold the upload's answer for three more timeouts: the
        // abort goes on alone (a bucket lifecycle rule ends what it cannot, docs/operations.md)
        if (!(error instanceof StorageUnavailable)) await abort;
      }
      throw error;
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const { Body } = await this.guard(
        this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      if (!(Body instanceof Readable)) throw new StorageObjectMissing(key);
      return this.guardBody(Body);
    } catch (error) {
      if (isMissing(error)) throw new StorageObjectMissing(key);
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.guard(this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.guard(this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  // Presigned GET (SigV4, query-string auth): the type and download name are part of the signature.
  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ResponseContentType: servedContentType(options.contentType),
        ResponseContentDisposition: contentDisposition(options.disposition, options.fileName),
      }),
      { expiresIn: Math.max(1, Math.round(options.ttlSeconds)) },
    );
  }

  // HeadBucket: the bucket exists and these credentials reach it. Concurrent probes share the
  // request in flight; the answer, up or down, stands for HEALTH_CACHE_MS.
  health(): Promise<StorageHealth> {
    const now = this.now();
    if (this.lastHealth && now - this.lastHealth.at < HEALTH_CACHE_MS) return this.lastHealth.result;
    const result = this.headBucket();
    this.lastHealth = { at: now, result };
    return result;
  }

  private async headBucket(): Promise<StorageHealth> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
        abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
      });
      return { up: true };
    } catch (error) {
      return { up: false, detail: describeFailure(error, HEALTH_TIMEOUT_MS) };
    }
  }

  destroy(): void {
    this.client.destroy();
  }

  // `get` resolves once the headers came: a store that goes silent or drops the connection in the
  // middle of the body fails the read later, classified as a request's failure is. A silent MinIO
  // gave INTERNAL instead of STORAGE_UNAVAILABLE there (docs/protocol.md, "Uploads and files").
  private guardBody(body: Readable): Readable {
    const timeoutMs = this.timeoutMs;
    return Readable.from(
      (async function* () {
        try {
          yield* body as AsyncIterable<Buffer>;
        } catch (error) {
          throw isUnavailable(error) ? new StorageUnavailable(describeFailure(error, timeoutMs)) : error;
        }
      })(),
      { objectMode: false },
    );
  }

  // Every request but the readiness probe: a store that does not answer is StorageUnavailable.
  private async guard<Output>(request: Promise<Output>): Promise<Output> {
    try {
      return await request;
    } catch (error) {
      throw isUnavailable(error) ? new StorageUnavailable(describeFailure(error, this.timeoutMs)) : error;
    }
  }
}

import type { Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { ClamdScanner, ScanVerdict } from '../../infra/scanner/clamd.scanner';
import type { StorageDriver } from '../../infra/storage/storage-driver';
import { PENDING_HEARTBEAT_MS, type FilesRepository } from './files.repository';
import { LimitCrossed } from './multipart-reader';
import type { ReservationWatch } from './reservation-watch';
import { fanout } from './stream-fanout';

// The upload's pending record is gone (the cleanup swept it): what was stored is discarded.
export function recordGone(): DomainException {
  return new DomainException(
    ErrorCode.INTERNAL,
    'The upload took too long and was dropped; please send the file again.',
  );
}

// While an upload's bytes come its pending record says so, however long it takes: the cleanup
// sweeps only pending records nobody touched for a while (a crash). A record found gone meanwhile
// aborts `gone`, which stops the upload. Each touch the store confirms goes to `watch`, which tells
// the upload's end whether its room in the quota may have lapsed on the way (a beat late past the
// reservation's life: the instance paused) (docs/protocol.md, "Uploads and files").
export function keepPendingAlive(
  files: FilesRepository,
  id: string,
  logger: Logger,
  ownerId: string,
  watch: ReservationWatch,
): { gone: AbortSignal; stop: () => void } {
  const gone = new AbortController();
  const timer = setInterval(() => {
    const sent = watch.now();
    files.touchPending(id, new Date(sent.wall)).then(
      (alive) => {
        if (alive) watch.confirm(sent);
        if (alive || gone.signal.aborted) return;
        logger.warn({ event: 'upload_record_gone', user_id: ownerId, file_id: id }, 'upload dropped');
        gone.abort(recordGone());
      },
      (error: unknown) =>
        logger.warn(
          { event: 'upload_heartbeat_failed', file_id: id, err: String(error) },
          'pending upload not touched',
        ),
    );
  }, PENDING_HEARTBEAT_MS);
  timer.unref();
  return { gone: gone.signal, stop: () => clearInterval(timer) };
}

// One pass over the bytes: to storage and to clamd at once, at the pace of the slower; `stop` ends
// it early with its reason.
export async function streamOut(input: {
  body: AsyncIterable<Buffer>;
  key: string;
  mimeType: string;
  storage: StorageDriver;
  scanner: ClamdScanner | null;
  stop: AbortSignal;
}): Promise<ScanVerdict> {
  const { scanner, stop } = input;
  const copy = fanout(input.body, scanner ? 2 : 1);
  // The consumer that failed first explains the rest: the copy then destroys the other branch, and
  // that consumer fails too. Storage failing mid-stream (disk full, an S3 part) was answered as
  // clamd's failure, 503 and scanner_down, which pages on-call (docs/protocol.md, "Uploads and files").
  let firstFailure: { error: unknown } | undefined;
  const consumerFailed = (error: unknown) => {
    firstFailure ??= { error };
    copy.abort(error instanceof Error ? error : new Error(String(error)));
    throw error;
  };
  const onStop = () => copy.abort(stop.reason instanceof Error ? stop.reason : recordGone());
  stop.addEventListener('abort', onStop, { once: true });
  const storing = input.storage.put(input.key, copy.branches[0], input.mimeType).catch(consumerFailed);
  const scanning: Promise<ScanVerdict> = scanner
    ? scanner.scan(copy.branches[1]).catch(consumerFailed)
    : Promise.resolve({ clean: true });
  const [copied, , scanned] = await Promise.allSettled([copy.done, storing, scanning]);
  stop.removeEventListener('abort', onStop);
  // the source's own failure (limit crossed, not text, cut off, the record gone) explains whatever
  // followed it
  if (copied.status === 'rejected' && isSourceFailure(copied.reason)) throw copied.reason;
  if (firstFailure) throw firstFailure.error;
  if (copied.status === 'rejected') throw copied.reason;
  if (scanned.status === 'rejected') throw scanned.reason;
  return scanned.value;
}

function isSourceFailure(reason: unknown): boolean {
  return reason instanceof LimitCrossed || reason instanceof DomainException;
}

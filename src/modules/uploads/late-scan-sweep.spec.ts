import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { ScannerUnavailable, ScanSizeLimit, type ClamdScanner } from '../../infra/scanner/clamd.scanner';
import { InProcessLock } from '../../infra/lock/in-process.lock';
import { WriteLock } from '../../infra/lock/write.lock';
import {
  StorageObjectMissing,
  StorageUnavailable,
  type StorageDriver,
} from '../../infra/storage/storage-driver';
import type { BareFileRecord, FilesRepository } from './files.repository';
import { LateScan } from './late-scan';
import { LateScanSweep } from './late-scan-sweep';
import type { LateScanVerdict, UploadMetrics } from './upload-metrics';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

// The file records the sweep reads, with findUnscanned's rule (its store semantics:
// test/integration/files-store-conformance.int-spec.ts).
class Records {
  readonly byId = new Map<string, BareFileRecord>();

  add(id: string, minute: number, changes: Partial<BareFileRecord> = {}): void {
    this.byId.set(id, {
      id,
      owner_id: 'u',
      session_id: null,
      size: 1,
      mime_type: 'text/plain',
      storage_key: `files/u/${id}`,
      status: 'ready',
      source: 'upload',
      scanned: false,
      attached: false,
      attached_at: null,
      created_at: new Date(Date.UTC(2026, 0, 1, 0, minute)),
      ...changes,
    });
  }

  async findUnscanned(limit: number, after?: { created_at: Date; id: string }): Promise<BareFileRecord[]> {
    const later = (file: BareFileRecord) =>
      !after ||
      file.created_at > after.created_at ||
      (file.created_at.getTime() === after.created_at.getTime() && file.id > after.id);
    return [...this.byId.values()]
      .filter((file) => file.status === 'ready' && !file.scanned && later(file))
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : 1))
      .slice(0, limit)
      .map((file) => ({ ...file }));
  }

  async markScanned(id: string): Promise<void> {
    const file = this.byId.get(id);
    if (file?.status === 'ready') file.scanned = true;
  }

  async markDeleting(id: string): Promise<void> {
    const file = this.byId.get(id);
    if (file) file.status = 'deleting';
  }

  async remove(id: string): Promise<void> {
    this.byId.delete(id);
  }

  scanned(): string[] {
    return [...this.byId.values()].filter((file) => file.scanned).map((file) => file.id);
  }
}

describe(LateScanSweep.name, () => {
  let records: Records;
  let objects: Map<string, string>;
  let read: string[];
  let storageDown: boolean;
  let clamd: 'up' | 'down';
  let verdicts: LateScanVerdict[];
  let errors: jest.SpyInstance;

  beforeEach(() => {
    records = new Records();
    objects = new Map();
    read = [];
    storageDown = false;
    clamd = 'up';
    verdicts = [];
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation();
    jest.spyOn(Logger.prototype, 'log').mockImplementation();
  });
  afterEach(() => jest.restoreAllMocks());

  // a stored file, `minute` minutes into the day, with its bytes (none: its object is missing)
  function stored(id: string, minute: number, bytes: string | null = 'notes'): void {
    records.add(id, minute);
    if (bytes !== null) objects.set(`files/u/${id}`, bytes);
  }

  function sweepWith(scannerConfigured = true, onScan?: () => void): LateScanSweep {
    const storage = {
      get: async (key: string) => {
        read.push(key.slice(key.lastIndexOf('/') + 1));
        if (storageDown) throw new StorageUnavailable('down');
        const bytes = objects.get(key);
        if (bytes === undefined) throw new StorageObjectMissing(key);
        return Readable.from([Buffer.from(bytes)]);
      },
      delete: async (key: string) => void objects.delete(key),
    } as unknown as StorageDriver;
    const scanner = {
      scan: async (body: Readable) => {
        onScan?.();
        let text = '';
        for await (const chunk of body) text += String(chunk);
        if (clamd === 'down') throw new ScannerUnavailable('connect ECONNREFUSED');
        if (text === 'huge') throw new ScanSizeLimit('INSTREAM size limit exceeded');
        return text === EICAR ? { clean: false, signature: 'Eicar-Test-Signature' } : { clean: true };
      },
    } as unknown as ClamdScanner;
    const metrics = {
      lateScan: (verdict: LateScanVerdict) => void verdicts.push(verdict),
    } as unknown as UploadMetrics;
    const files = records as unknown as FilesRepository;
    const lock = new WriteLock(new InProcessLock(), async () => undefined);
    const lateScan = new LateScan(files, storage, scannerConfigured ? scanner : null, lock, metrics);
    return new LateScanSweep(files, lateScan);
  }

  it('should scan the oldest files first, at most a batch a run, and start again from the oldest after the last', async () => {
    for (const [index, id] of ['e', 'c', 'a', 'd', 'b'].entries()) stored(id, [5, 3, 1, 4, 2][index]);
    const sweep = sweepWith();
    await sweep.run(2);
    expect(read).toEqual(['a', 'b']);
    await sweep.run(2);
    await sweep.run(2);
    expect(read).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(records.scanned().sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(verdicts).toEqual(['clean', 'clean', 'clean', 'clean', 'clean']);
    // a file stored unscanned later (scanning turned off and on again) is found by the next pass
    stored('f', 0);
    await sweep.run(2);
    expect(read.slice(5)).toEqual(['f']);
  });

  it('should break ties of one creation time by id, each file once a pass', async () => {
    for (const id of ['d', 'b', 'a', 'c']) stored(id, 1, 'huge');
    const sweep = sweepWith();
    await sweep.run(3);
    await sweep.run(3);
    expect(read).toEqual(['a', 'b', 'c', 'd']);
  });

  it('should delete an infected file as a download does, and go on with the batch', async () => {
    stored('bad', 1, EICAR);
    stored('good', 2);
    await sweepWith().run();
    expect(records.byId.has('bad')).toBe(false);
    expect(objects.has('files/u/bad')).toBe(false);
    expect(records.scanned()).toEqual(['good']);
    expect(verdicts).toEqual(['infected', 'clean']);
  });

  it('should stop at the first file while clamd is down, log one error a run, and try that file first next run', async () => {
    stored('a', 1);
    stored('b', 2);
    stored('c', 3);
    clamd = 'down';
    const sweep = sweepWith();
    await sweep.run();
    expect([read, errors.mock.calls.length]).toEqual([['a'], 1]);
    await sweep.run();
    expect([read, errors.mock.calls.length]).toEqual([['a', 'a'], 2]);
    expect(records.scanned()).toEqual([]);
    expect(verdicts).toEqual(['scanner_down', 'scanner_down']);

    clamd = 'up';
    await sweep.run();
    expect(read).toEqual(['a', 'a', 'a', 'b', 'c']);
    expect(records.scanned()).toEqual(['a', 'b', 'c']);
  });

  it('should stop at the first file while storage is down, with one error log', async () => {
    stored('a', 1);
    stored('b', 2);
    storageDown = true;
    await sweepWith().run();
    expect([read, errors.mock.calls.length, verdicts]).toEqual([['a'], 1, ['storage_down']]);
  });

  it('should go past files it cannot scan, so they never hold up the ones behind them', async () => {
    stored('gone', 1, null);
    stored('huge', 2, 'huge');
    stored('clean', 3);
    const sweep = sweepWith();
    await sweep.run(2);
    await sweep.run(2);
    expect(read).toEqual(['gone', 'huge', 'clean']);
    expect(records.scanned()).toEqual(['clean']);
    expect(verdicts).toEqual(['missing', 'too_large', 'clean']);
    expect(errors).not.toHaveBeenCalled();
    // the next pass tries them again
    await sweep.run(2);
    expect(read.slice(3)).toEqual(['gone', 'huge']);
  });

  it('should read nothing when no scanner is configured', async () => {
    stored('a', 1);
    const findUnscanned = jest.spyOn(records, 'findUnscanned');
    await sweepWith(false).run();
    expect([findUnscanned.mock.calls.length, read]).toEqual([0, []]);
  });

  it('should scan no further file once stopped (the instance shuts down)', async () => {
    stored('a', 1);
    stored('b', 2);
    const stopping: { sweep?: LateScanSweep } = {};
    stopping.sweep = sweepWith(true, () => stopping.sweep?.stop());
    await stopping.sweep.run();
    expect([read, records.scanned()]).toEqual([['a'], ['a']]);
  });

  it('should log one error and scan nothing when the store does not answer', async () => {
    stored('a', 1);
    jest.spyOn(records, 'findUnscanned').mockRejectedValue(new Error('store down'));
    await sweepWith().run();
    expect([read, errors.mock.calls.length]).toEqual([[], 1]);
  });
});

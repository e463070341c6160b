import { Injectable } from '@nestjs/common';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';

export const UPLOAD_METRIC_PROVIDERS = [
  makeCounterProvider({
    name: 'chatbox_uploads_total',
    help: 'Upload attempts by outcome (stored, too_large, type, infected, scanner_down, storage_down, quota, error)',
    labelNames: ['result'],
  }),
  makeCounterProvider({ name: 'chatbox_upload_bytes_total', help: 'Bytes of uploads stored' }),
  makeCounterProvider({ name: 'chatbox_files_deleted_total', help: 'Files deleted by the cleanup' }),
  makeCounterProvider({
    name: 'chatbox_late_scans_total',
    help: 'Scans of files stored while scanning was off, on a download or by the sweep, by verdict (clean, infected, too_large, missing, scanner_down, storage_down)',
    labelNames: ['verdict'],
  }),
];

export type UploadResult =
  'stored' | 'too_large' | 'type' | 'infected' | 'scanner_down' | 'storage_down' | 'quota' | 'error';

// missing: the record's object is gone from storage
export type LateScanVerdict =
  'clean' | 'infected' | 'too_large' | 'missing' | 'scanner_down' | 'storage_down';

@Injectable()
export class UploadMetrics {
  constructor(
    @InjectMetric('chatbox_uploads_total') private readonly uploads: Counter<string>,
    @InjectMetric('chatbox_upload_bytes_total') private readonly bytes: Counter<string>,
    @InjectMetric('chatbox_files_deleted_total') readonly deleted: Counter<string>,
    @InjectMetric('chatbox_late_scans_total') private readonly lateScans: Counter<string>,
  ) {}

  count(result: UploadResult, bytes = 0): void {
    this.uploads.inc({ result });
    if (bytes > 0) this.bytes.inc(bytes);
  }

  lateScan(verdict: LateScanVerdict): void {
    this.lateScans.inc({ verdict });
  }
}

import type { Env } from './env-readers';

// Uploads section (S3 or local disk, limits, clamd). Filled by the uploads issue.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface UploadSettings {}

export function loadUploadSettings(_env: Env): UploadSettings {
  return {};
}

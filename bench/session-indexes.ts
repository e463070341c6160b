// The sessions collection's indexes, for the store scripts that build one of their own
// (store-cmd-cpu.ts, store-write-contention.ts); src/modules/sessions/schemas/session.schema.ts
// declares them.
import type { Document } from 'mongodb';

// the eight the first store scripts measured with
export const SESSION_INDEXES: Document[] = [
  { user_id: 1, last_activity: -1 },
  { is_active: 1, last_activity: 1 },
  { start_time: -1 },
  { user_id: 1, start_time: -1 },
  { last_activity: -1 },
  { duration_ms: -1 },
  { is_active: 1, start_time: -1 },
  { admin_assisted: 1, start_time: -1 },
];

// the sessions collection's indexes as the schema declares them (session.schema.ts), all of them
export const LONG_INDEXES: Document[] = [
  ...SESSION_INDEXES,
  { help_requested: 1, start_time: -1 },
  { end_time: 1 },
  { takeover_lease_until: 1 },
  { console: 1 },
  { user_id: 1, search_tokens: 1 },
];

import type { AlertChannel, AlertEventType } from '../../config/notifications.settings';

export type { AlertChannel, AlertEventType } from '../../config/notifications.settings';

// What a caller raises (AlertsService.raise). `details` are error descriptions: never message text,
// tokens or keys. `reason` is the user's own help text: sent to admins, stored encrypted, never logged.
export interface AlertEvent {
  type: AlertEventType;
  userId?: string;
  sessionId?: string;
  affectedUsers?: number;
  details?: string;
  reason?: string;
  at?: Date;
}

export type NotificationStatus = 'pending' | 'sent' | 'failed' | 'suppressed' | 'digested';

// One stored alert (or digest of suppressed alerts) and its delivery state.
export interface NotificationRecord {
  id: string;
  kind: 'alert' | 'digest';
  type: AlertEventType | 'digest';
  user_id: string | null;
  session_id: string | null;
  affected_users: number;
  details: string | null;
  reason: string | null;
  link: string | null;
  at: Date;
  channels: AlertChannel[];
  // channels done: every recipient reached
  sent: AlertChannel[];
  // admins reached, each sent on their own (`email:ops@example.com`, `sms:+15550001111`); a channel
  // joins `sent` once all its admins are. Absent on alerts stored before; on those stored before
  // email went per address, `email` in `sent` stands for all of ADMIN_EMAILS.
  sent_to?: string[];
  status: NotificationStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_error: string | null;
  digest_id: string | null;
  // for digests: how many alerts of each type were folded in
  summary: Record<string, number> | null;
}

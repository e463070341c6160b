import type { Env } from './env-readers';

// Admin alerts section (SMTP, Twilio, rules). Filled by the human help issue.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NotificationSettings {}

export function loadNotificationSettings(_env: Env): NotificationSettings {
  return {};
}

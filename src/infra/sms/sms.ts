import type { SmsSettings } from '../../config/notifications.settings';

// What sends the admins' SMS alerts (SmsSender, over the twilio SDK). The SDK is loaded only when
// SMS is configured: it is ~7 MB of heap that every full GC would mark for nothing otherwise.
export const SMS_SENDER = Symbol('SMS_SENDER');

export interface Sms {
  readonly recipients: string[];
  // one message to one of the recipients; fails with codes only, never the vendor's text
  send(to: string, body: string): Promise<void>;
}

export async function createSmsSender(settings: SmsSettings): Promise<Sms> {
  const { SmsSender } = await import('./sms.sender');
  return new SmsSender(settings);
}

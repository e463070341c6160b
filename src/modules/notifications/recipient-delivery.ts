import type { AlertChannel, NotificationRecord } from './alert.types';

export const NOT_STARTED = 'not started, the attempt window was ending';

// A channel that sends to each admin on its own (email: ADMIN_EMAILS, SMS: ADMIN_PHONES), with the
// alert's message bound: who, and one send to one of them. A send fails with codes only.
export interface RecipientChannel {
  channel: Exclude<AlertChannel, 'log'>;
  recipients: readonly string[];
  send(to: string): Promise<void>;
}

// Records what went out, in the store, as soon as it did.
export type RecordSent = (sent: { sent?: AlertChannel[]; sent_to?: string[] }) => Promise<void>;

// One message per admin not yet reached, each recorded in `sent_to` (`email:<address>`,
// `sms:<phone>`) as soon as it went out: an admin that fails leaves the others alone, and the retry
// sends to it only. The channel joins `sent` once every admin it has now is reached. No send starts
// after `deadline` (the end of the attempt's window). A failure names the admin by their place in
// the list ("email 2 of 3"): logs and `last_error` carry no address or phone.
export async function sendToEach(
  target: RecipientChannel,
  record: NotificationRecord,
  deadline: number,
  errors: string[],
  done: RecordSent,
): Promise<void> {
  const { channel, recipients } = target;
  const reached = (record.sent_to ??= []);
  for (const [index, to] of recipients.entries()) {
    const key = `${channel}:${to}`;
    if (reached.includes(key)) continue;
    if (Date.now() >= deadline) {
      errors.push(`${channel}: ${NOT_STARTED}`);
      return;
    }
    try {
      await target.send(to);
    } catch (error) {
      errors.push(`${channel} ${index + 1} of ${recipients.length}: ${failure(error)}`);
      continue;
    }
    reached.push(key);
    await done({ sent_to: [key] });
  }
  if (recipients.every((to) => reached.includes(`${channel}:${to}`))) {
    record.sent.push(channel);
    await done({ sent: [channel] });
  }
}

// A channel's failure. The senders fail with codes only (MailSender, SmsSender), never the vendor's
// text, which may name an admin's address or phone: their message is safe to log and store.
export function failure(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
}

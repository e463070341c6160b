import type { ISendMailOptions, MailerService } from '@nestjs-modules/mailer';
import type { MailSettings } from '../../config/notifications.settings';
import { MAIL_TIMEOUTS, MailSender } from '../../infra/mail/mail.sender';

// What sends the admins' alert email: one message to one address of ADMIN_EMAILS at a time, as
// SMS go to one phone at a time (Sms), so DeliveryService records each address reached and retries
// only the others (docs/protocol.md, "Alert limits and digests").
export const ADMIN_MAIL = Symbol('ADMIN_MAIL');

export interface AdminMail {
  readonly recipients: string[];
  // one message to one of the recipients; fails with codes only, never the relay's text
  send(to: string, mail: { subject: string; text: string }): Promise<void>;
}

// A MailSender per address (its own envelope and To:, so no admin sees the others' addresses), over
// a mailer that fails a message its recipient was refused for.
export class AdminMailSender implements AdminMail {
  private readonly senders: Map<string, MailSender>;

  constructor(mailer: MailerService, settings: MailSettings, sendMs = MAIL_TIMEOUTS.sendMs) {
    const strict = acceptedOnly(mailer);
    this.senders = new Map(
      settings.to.map((to) => [to, new MailSender(strict, { ...settings, to: [to] }, sendMs)]),
    );
  }

  get recipients(): string[] {
    return [...this.senders.keys()];
  }

  async send(to: string, mail: { subject: string; text: string }): Promise<void> {
    const sender = this.senders.get(to);
    if (!sender) throw new Error('not one of ADMIN_EMAILS');
    await sender.send(mail);
  }
}

interface SendInfo {
  accepted?: unknown[];
  rejected?: unknown[];
  rejectedErrors?: unknown[];
}

// nodemailer resolves a message the relay refused for some of its recipients, with them in
// `info.rejected` (at RCPT TO when it accepted others; at the end of DATA over LMTP, one reply per
// recipient, even when it refused them all): it fails only when RCPT TO refused every recipient.
// Here a message is sent when every recipient took it; otherwise it fails with the refusal (its code
// and status: MailSender keeps nothing else). MailSender uses the mailer's sendMail alone.
export function acceptedOnly(mailer: MailerService): MailerService {
  const strict: Pick<MailerService, 'sendMail'> = {
    sendMail: async (options: ISendMailOptions) => {
      const info = await mailer.sendMail(options);
      const { accepted, rejected } = (info ?? {}) as SendInfo;
      if ((rejected?.length ?? 0) > 0 || accepted?.length === 0) throw refusal(info as SendInfo);
      return info;
    },
  };
  return strict as unknown as MailerService;
}

function refusal(info: SendInfo): Error {
  const [first] = info.rejectedErrors ?? [];
  if (first instanceof Error) return first;
  return Object.assign(new Error('recipient refused'), { code: 'EENVELOPE' });
}

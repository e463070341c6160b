import type { ISendMailOptions, MailerOptions, MailerService } from '@nestjs-modules/mailer';
import type { MailSettings } from '../../config/notifications.settings';

export interface MailTimeouts {
  connectionMs: number;
  greetingMs: number;
  // inactivity on the connection
  socketMs: number;
  // the whole send: the connection is closed, and the send ends, when it is over
  sendMs: number;
}

// Every send ends within sendMs (DeliveryService starts none it could not finish in its attempt's
// window, docs/protocol.md "Alert limits and digests"). Query options in SMTP_URL still win.
export const MAIL_TIMEOUTS: MailTimeouts = {
  connectionMs: 10_000,
  greetingMs: 10_000,
  socketMs: 15_000,
  sendMs: 20_000,
};

// The mailer's options. No `sendTimeout`: the mailer's only stops waiting while nodemailer goes on
// sending, so a relay slower than it took the mail after the attempt had failed and the retry sent
// it again. nodemailer's own timeouts and an abort signal end the send itself.
export function mailerOptions(settings: MailSettings | undefined, timeouts = MAIL_TIMEOUTS): MailerOptions {
  if (!settings) return { transport: { jsonTransport: true } };
  return {
    transport: {
      url: settings.smtpUrl,
      connectionTimeout: timeouts.connectionMs,
      greetingTimeout: timeouts.greetingMs,
      socketTimeout: timeouts.socketMs,
    },
  };
}

// Email to the admins through @nestjs-modules/mailer (nodemailer over SMTP_URL).
export class MailSender {
  constructor(
    private readonly mailer: MailerService,
    private readonly settings: MailSettings,
    private readonly sendMs = MAIL_TIMEOUTS.sendMs,
  ) {}

  get recipients(): string[] {
    return this.settings.to;
  }

  // Fails with nodemailer's code and the relay's status only: the relay's text may name an admin's
  // address ("550 <oncall@corp> rejected"), and the failure is logged and stored.
  async send(mail: { subject: string; text: string }): Promise<void> {
    const options: ISendMailOptions & { signal: AbortSignal } = {
      to: this.settings.to,
      from: this.settings.from,
      subject: mail.subject,
      text: mail.text,
      signal: AbortSignal.timeout(this.sendMs),
    };
    try {
      await this.mailer.sendMail(options);
    } catch (error) {
      throw new Error(mailFailure(error));
    }
  }
}

// "smtp EMESSAGE 550", "smtp ETIMEDOUT", "smtp EABORT"
export function mailFailure(error: unknown): string {
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  const name = typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'ERROR';
  const status = typeof responseCode === 'number' && Number.isInteger(responseCode) ? ` ${responseCode}` : '';
  return `smtp ${name}${status}`;
}

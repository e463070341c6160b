import type { MailerService } from '@nestjs-modules/mailer';
import type { MailSettings } from '../../config/notifications.settings';

// Email to the admins through @nestjs-modules/mailer (nodemailer over SMTP_URL).
export class MailSender {
  constructor(
    private readonly mailer: MailerService,
    private readonly settings: MailSettings,
  ) {}

  get recipients(): string[] {
    return this.settings.to;
  }

  async send(mail: { subject: string; text: string }): Promise<void> {
    await this.mailer.sendMail({
      to: this.settings.to,
      from: this.settings.from,
      subject: mail.subject,
      text: mail.text,
    });
  }
}

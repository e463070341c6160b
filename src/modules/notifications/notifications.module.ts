import { MailerModule, MailerService } from '@nestjs-modules/mailer';
import { Global, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { SETTINGS, type Settings } from '../../config/settings';
import { mailerOptions } from '../../infra/mail/mail.sender';
import { createSmsSender, SMS_SENDER } from '../../infra/sms/sms';
import { ADMIN_MAIL, AdminMailSender } from './admin-mail';
import { AlertLimiter } from './alert-limiter';
import { AlertRetentionService } from './alert-retention.service';
import { ALERT_METRIC_PROVIDERS, AlertMetrics } from './alert-metrics';
import { AlertsService } from './alerts.service';
import { DeliveryService } from './delivery.service';
import { InstanceWatch } from './instance-watch.service';
import { NOTIFICATION_CIPHER, NotificationsRepository } from './notifications.repository';
import { ReasonRotationService } from './reason-rotation.service';
import {
  InstanceBeat,
  InstanceBeatSchema,
  Notification,
  NotificationMark,
  NotificationMarkSchema,
  NotificationSchema,
} from './schemas/notification.schema';
import { TrafficWatch } from './traffic-watch.service';

// Global so any feature can raise an alert without wiring: inject AlertsService, call raise().
// Channels are chosen by settings: email when SMTP_URL is set, SMS when TWILIO_ACCOUNT_SID is.
@Global()
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Notification.name, schema: NotificationSchema },
      { name: NotificationMark.name, schema: NotificationMarkSchema },
      { name: InstanceBeat.name, schema: InstanceBeatSchema },
    ]),
    MailerModule.forRootAsync({
      inject: [SETTINGS],
      // without SMTP_URL the mailer is never used; jsonTransport keeps it inert
      useFactory: (settings: Settings) => mailerOptions(settings.notifications.mail),
    }),
  ],
  providers: [
    ReasonRotationService,
    {
      provide: NOTIFICATION_CIPHER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
    },
    {
      // one message per admin address (docs/protocol.md, "Alert limits and digests")
      provide: ADMIN_MAIL,
      inject: [SETTINGS, MailerService],
      useFactory: (settings: Settings, mailer: MailerService) =>
        settings.notifications.mail ? new AdminMailSender(mailer, settings.notifications.mail) : null,
    },
    {
      provide: SMS_SENDER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        settings.notifications.sms ? createSmsSender(settings.notifications.sms) : null,
    },
    ...ALERT_METRIC_PROVIDERS,
    AlertMetrics,
    NotificationsRepository,
    AlertLimiter,
    DeliveryService,
    AlertsService,
    AlertRetentionService,
    TrafficWatch,
    InstanceWatch,
  ],
  exports: [AlertsService],
})
export class NotificationsModule {}

import { Global, Module } from '@nestjs/common';
import { AlertsService } from './alerts.service';

// Global so any feature can raise an alert without wiring: inject AlertsService, call raise().
@Global()
@Module({
  providers: [AlertsService],
  exports: [AlertsService],
})
export class NotificationsModule {}

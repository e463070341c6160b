import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { ClientHub } from './client-hub';
import { SessionEvents } from './session-events';

// The client hub (frames to sockets, on every instance) and session events between modules.
@Module({
  imports: [SessionsModule],
  providers: [ClientHub, SessionEvents],
  exports: [ClientHub, SessionEvents],
})
export class RealtimeModule {}

import { Module } from '@nestjs/common';
import { RealtimeModule } from '../realtime/realtime.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UploadsModule } from '../uploads/uploads.module';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';

// A user's sessions as a library: export, rename, archive, soft delete (the sessions module writes).
@Module({
  imports: [SessionsModule, RealtimeModule, UploadsModule],
  controllers: [HistoryController],
  providers: [HistoryService],
})
export class HistoryModule {}

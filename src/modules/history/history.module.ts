import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module';
import { RealtimeModule } from '../realtime/realtime.module';
import { SessionsModule } from '../sessions/sessions.module';
import { UploadsModule } from '../uploads/uploads.module';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';

// A user's sessions as a library: export, rename, archive, soft delete (the sessions module writes).
@Module({
  imports: [SessionsModule, RealtimeModule, UploadsModule, ChatModule],
  controllers: [HistoryController],
  providers: [HistoryService],
})
export class HistoryModule {}

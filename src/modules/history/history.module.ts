import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module';
import { LlmModule } from '../llm/llm.module';
import { NotesModule } from '../notes/notes.module';
import { RealtimeModule } from '../realtime/realtime.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TakeoverModule } from '../takeover/takeover.module';
import { UploadsModule } from '../uploads/uploads.module';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';
import { SESSION_PURGE_METRIC_PROVIDERS, SessionPurgeService } from './session-purge.service';

// A user's sessions as a library: export, rename, archive, soft delete (the sessions module writes),
// and the purge of the deleted ones after DELETED_SESSION_RETENTION, with what they hold elsewhere.
@Module({
  imports: [
    SessionsModule,
    RealtimeModule,
    UploadsModule,
    ChatModule,
    NotesModule,
    TakeoverModule,
    LlmModule,
  ],
  controllers: [HistoryController],
  providers: [HistoryService, ...SESSION_PURGE_METRIC_PROVIDERS, SessionPurgeService],
})
export class HistoryModule {}

import { Module } from '@nestjs/common';
import { LlmModule } from '../llm/llm.module';
import { RealtimeModule } from '../realtime/realtime.module';
import { SessionsModule } from '../sessions/sessions.module';
import { DeletedSessions } from './deleted-sessions';
import { RecordService } from './record.service';
import { ReplyAttachments } from './reply-attachments';
import { ReplyPrompt } from './reply-prompt';
import { ReplyRecorder } from './reply-recorder';
import { ReplyService } from './reply.service';
import { TakeoverAnswers } from './takeover-answers';
import { TurnVersionsService } from './turn-versions.service';
import { TurnWatchService } from './turn-watch.service';

// AI replies (prompt, stream, storage) and the one record path every session event takes.
@Module({
  imports: [SessionsModule, LlmModule, RealtimeModule],
  providers: [
    DeletedSessions,
    RecordService,
    ReplyService,
    ReplyPrompt,
    ReplyRecorder,
    ReplyAttachments,
    TakeoverAnswers,
    TurnWatchService,
    TurnVersionsService,
  ],
  exports: [RecordService, ReplyService, TurnWatchService, TurnVersionsService],
})
export class RepliesModule {}

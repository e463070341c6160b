import { TurnWatchService } from './turn-watch.service';
import { forwardRef, Module } from '@nestjs/common';
import { LlmModule } from '../llm/llm.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TakeoverModule } from '../takeover/takeover.module';
import { ChatController } from './chat.controller';
import { ChatGateway } from './chat.gateway';
import { ChatService } from './chat.service';
import { ClientHub } from './client-hub';
import { ConnectionsService } from './connections.service';
import { ReplyAttachments } from './reply-attachments';
import { ReplyRecorder } from './reply-recorder';
import { ReplyService } from './reply.service';
import { VoiceService } from './voice.service';

@Module({
  imports: [SessionsModule, LlmModule, forwardRef(() => TakeoverModule)],
  controllers: [ChatController],
  providers: [
    ChatGateway,
    ChatService,
    ConnectionsService,
    ReplyService,
    ReplyRecorder,
    ReplyAttachments,
    VoiceService,
    ClientHub,
    TurnWatchService,
  ],
  exports: [ChatGateway, ClientHub, ReplyService],
})
export class ChatModule {}

import { Module } from '@nestjs/common';
import { LlmModule } from '../llm/llm.module';
import { RealtimeModule } from '../realtime/realtime.module';
import { RepliesModule } from '../replies/replies.module';
import { RoomsModule } from '../rooms/rooms.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TakeoverModule } from '../takeover/takeover.module';
import { ChatController } from './chat.controller';
import { ChatGateway } from './chat.gateway';
import { ChatService } from './chat.service';
import { ConnectionsService } from './connections.service';
import { TranscriptionPlaces } from './transcription-places';
import { VoiceService } from './voice.service';

// The WebSocket edge and what each client message does; replies, the record path, the hub and
// takeovers are modules of their own that this one uses (no module imports chat back).
@Module({
  imports: [SessionsModule, LlmModule, RealtimeModule, RepliesModule, TakeoverModule, RoomsModule],
  controllers: [ChatController],
  providers: [ChatGateway, ChatService, ConnectionsService, VoiceService, TranscriptionPlaces],
  // ConnectionsService: the history module moves a deleted session's devices to a new one
  exports: [ChatGateway, ConnectionsService],
})
export class ChatModule {}

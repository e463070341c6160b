import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { LlmModule } from '../llm/llm.module';
import { PresenceModule } from '../presence/presence.module';
import { PublicRoomsController } from './public-rooms.controller';
import { PublicRoomsService } from './public-rooms.service';
import { RoomAiReplyService } from './room-ai-reply.service';
import { RoomAiRunsRepository } from './room-ai-runs.repository';
import { RoomAiUsageRepository } from './room-ai-usage.repository';
import { RoomAiService } from './room-ai.service';
import { RoomAiRun, RoomAiRunSchema, RoomAiUsage, RoomAiUsageSchema } from './schemas/room-ai.schema';
import { BlocksController } from './blocks.controller';
import { BlocksRepository } from './blocks.repository';
import { ParticipantsRepository } from './participants.repository';
import { ReactionsRepository } from './reactions.repository';
import { ReadMarksRepository } from './read-marks.repository';
import { ReportRotationService } from './report-rotation.service';
import { ReportsRepository } from './reports.repository';
import { RoomHub } from './room-hub';
import { RoomMembershipService } from './room-membership.service';
import { RoomMessageRotationService } from './room-message-rotation.service';
import { RoomMessagesRepository, ROOM_CIPHER } from './room-messages.repository';
import { RoomMessagesService } from './room-messages.service';
import { RoomReplays } from './room-replays';
import { RoomReportsService } from './room-reports.service';
import { RoomRetentionService } from './room-retention.service';
import { RoomSocketsService } from './room-sockets.service';
import { RoomsAdminController } from './rooms-admin.controller';
import { RoomsController } from './rooms.controller';
import { RoomsGateway } from './rooms.gateway';
import { RoomsRepository } from './rooms.repository';
import { RoomsService } from './rooms.service';
import { Participant, ParticipantSchema } from './schemas/participant.schema';
import {
  Block,
  BlockSchema,
  Reaction,
  ReactionSchema,
  ReadMark,
  ReadMarkSchema,
  Report,
  ReportSchema,
} from './schemas/room-extras.schema';
import { RoomMessage, RoomMessageSchema } from './schemas/room-message.schema';
import { RoomChange, RoomChangeSchema } from './schemas/room-change.schema';
import { RoomChangesRepository } from './room-changes.repository';
import { Room, RoomSchema } from './schemas/room.schema';

// Rooms, direct messages and their messages (issue 14), on the shared realtime pieces (bus, socket
// writes, SeqOrder), the presence module and the model layer (`@ai` in a room). Nothing outside writes these collections: the chat
// module reaches rooms through RoomSocketsService alone.
@Module({
  imports: [
    PresenceModule,
    LlmModule,
    MongooseModule.forFeature([
      { name: RoomAiRun.name, schema: RoomAiRunSchema },
      { name: RoomAiUsage.name, schema: RoomAiUsageSchema },
      { name: Room.name, schema: RoomSchema },
      { name: Participant.name, schema: ParticipantSchema },
      { name: RoomMessage.name, schema: RoomMessageSchema },
      { name: RoomChange.name, schema: RoomChangeSchema },
      { name: Reaction.name, schema: ReactionSchema },
      { name: ReadMark.name, schema: ReadMarkSchema },
      { name: Block.name, schema: BlockSchema },
      { name: Report.name, schema: ReportSchema },
    ]),
  ],
  // PublicRoomsController first: its `rooms/public` before RoomsController's `rooms/:id`
  controllers: [PublicRoomsController, RoomsController, BlocksController, RoomsAdminController],
  providers: [
    {
      provide: ROOM_CIPHER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
    },
    RoomsRepository,
    ParticipantsRepository,
    RoomMessagesRepository,
    RoomChangesRepository,
    ReactionsRepository,
    ReadMarksRepository,
    BlocksRepository,
    ReportsRepository,
    RoomHub,
    RoomMessagesService,
    RoomsService,
    PublicRoomsService,
    RoomMembershipService,
    RoomReportsService,
    RoomRetentionService,
    // the rooms' share of an ENCRYPTION_KEY rotation (docs/operations.md)
    ReportRotationService,
    RoomMessageRotationService,
    RoomAiRunsRepository,
    RoomAiUsageRepository,
    RoomAiReplyService,
    RoomAiService,
    RoomReplays,
    RoomSocketsService,
    RoomsGateway,
  ],
  exports: [RoomSocketsService],
})
export class RoomsModule {}

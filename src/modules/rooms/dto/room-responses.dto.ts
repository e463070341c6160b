import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

// OpenAPI shapes of the rooms routes' answers (room-views.ts, room-frames.ts, RoomsController).
export class RoomDto {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['public', 'private', 'dm'] }) kind!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: String, nullable: true }) topic!: string | null;
  @ApiProperty() owner_id!: string;
  @ApiPropertyOptional({ type: [String], description: 'direct messages: the two users' }) dm_users?: string[];
  @ApiProperty({ format: 'date-time' }) created_at!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) last_message_at!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'room setting: the model `@ai` asks, `off`, or null for the default model',
  })
  ai_model!: string | null;
}

export class RoomSummaryDto extends RoomDto {
  @ApiProperty({
    enum: ['invited', 'member', 'left', 'kicked', 'banned'],
    type: String,
    nullable: true,
    description: "the user's state in the room; null when never in it",
  })
  membership!: string | null;
  @ApiProperty({
    enum: ['owner', 'moderator', 'member'],
    type: String,
    nullable: true,
    description: 'members only',
  })
  role!: string | null;
  @ApiProperty({
    description: "others' text messages after the user's read mark, counted over the 100 messages after it",
  })
  unread_count!: number;
  @ApiProperty({ description: 'more messages follow the 100 counted: unread_count is a lower bound' })
  unread_more!: boolean;
  @ApiProperty({
    required: false,
    description: "GET /rooms, members only: the user's read mark in the room (the seq read up to; 0: none)",
  })
  read_seq?: number;
}

export class RoomMessageDto {
  @ApiProperty({ enum: ['chat'] }) type!: string;
  @ApiProperty() room_id!: string;
  @ApiProperty() message_id!: string;
  @ApiProperty({ description: 'per-room order, no gaps' }) seq!: number;
  @ApiProperty({ description: 'the sender' }) user_id!: string;
  @ApiProperty({ format: 'date-time' }) timestamp!: string;
  @ApiPropertyOptional() client_id?: string;
  @ApiPropertyOptional({ description: 'absent once deleted' }) content?: string;
  @ApiPropertyOptional() file_id?: string;
  @ApiPropertyOptional({ description: 'stable /chat/files/:file_id link (members get the signed redirect)' })
  file_url?: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description:
      'kind (text or system), reply_to, edited_at, deleted, reactions (emoji → user ids); system messages add action and target_user_id; with changed_after: change (the number of its last edit or delete) and reaction_changes (emoji → user id → the number of that reaction, taken-back ones too)',
  })
  metadata!: Record<string, unknown>;
}

export class RoomHistoryDto {
  @ApiProperty({ type: [RoomMessageDto], description: 'oldest first' }) items!: RoomMessageDto[];
  @ApiProperty({ type: Number, nullable: true, description: 'the cursor for older messages (before=)' })
  next_before!: number | null;
  @ApiPropertyOptional({
    description: 'with changed_after: every change up to this number is in items (the next changed_after)',
  })
  changed_through?: number;
  @ApiPropertyOptional({ description: 'with changed_after: more changes to read (from changed_through)' })
  more?: boolean;
  @ApiPropertyOptional({
    description:
      'with changed_after: a change above changed_through is still being written; read again after a moment',
  })
  settling?: boolean;
  @ApiPropertyOptional({
    description:
      'with changed_after: the number is not one this room can answer from; read the pages held again',
  })
  reset?: boolean;
}

export class MessageDeletedDto {
  @ApiProperty() message_id!: string;
  @ApiProperty({ enum: [true] }) deleted!: boolean;
}

export class ReportCreatedDto {
  @ApiProperty() report_id!: string;
}

export class ParticipantDto {
  @ApiProperty() user_id!: string;
  @ApiProperty({ enum: ['owner', 'moderator', 'member'] }) role!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) muted_until!: string | null;
  @ApiProperty({ enum: ['online', 'away', 'offline'] }) presence!: string;
}

export class RoomLeftDto {
  @ApiProperty() room_id!: string;
  @ApiProperty({ enum: [true] }) left!: boolean;
}

export class RoomInvitedDto {
  @ApiProperty() room_id!: string;
  @ApiProperty() user_id!: string;
  @ApiProperty({ enum: [true] }) invited!: boolean;
}

export class RoomRoleDto {
  @ApiProperty() room_id!: string;
  @ApiProperty() user_id!: string;
  @ApiProperty({ enum: ['moderator', 'member'] }) role!: string;
}

export class ModerationResultDto {
  @ApiProperty() room_id!: string;
  @ApiProperty() user_id!: string;
  @ApiProperty({ enum: ['mute', 'unmute', 'kick', 'ban', 'unban'] }) action!: string;
}

export class BlockListDto {
  @ApiProperty({ type: [String], description: 'the users this user blocked' }) user_ids!: string[];
}

export class BlockResultDto {
  @ApiProperty() user_id!: string;
  @ApiProperty() blocked!: boolean;
}

export class AdminRoomPageDto {
  @ApiProperty({ type: [RoomDto] }) items!: RoomDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

export class ReportedMessageDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ format: 'date-time', description: 'when it was sent' }) sent_at!: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'edited before it was reported' })
  edited_at?: string;
  @ApiPropertyOptional({ enum: [true], description: 'deleted before it was reported: no text kept' })
  deleted?: boolean;
  @ApiPropertyOptional({ description: 'its text when reported (stored encrypted)' }) content?: string;
  @ApiPropertyOptional({ description: "its file's name when reported (stored encrypted)" })
  file_name?: string;
  @ApiPropertyOptional({
    enum: [true],
    description:
      'its text or file name cannot be decrypted (a key no longer listed): shown empty or left out',
  })
  unreadable?: boolean;
}

export class RoomReportDto {
  @ApiProperty() id!: string;
  @ApiProperty() room_id!: string;
  @ApiProperty() message_id!: string;
  @ApiProperty() reporter_id!: string;
  @ApiProperty({ description: 'who wrote the reported message' }) sender_id!: string;
  @ApiPropertyOptional({ description: 'decrypted' }) reason?: string;
  @ApiProperty({
    type: ReportedMessageDto,
    nullable: true,
    description:
      'the reported message as it was when reported, whatever its author did to it since; null for reports made before this was kept',
  })
  reported!: ReportedMessageDto | null;
  @ApiProperty({ format: 'date-time' }) at!: string;
}

export class AdminReportPageDto {
  @ApiProperty({ type: [RoomReportDto], description: 'newest first' }) items!: RoomReportDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

export class RoomAiModelUsageDto {
  @ApiProperty() model!: string;
  @ApiProperty() replies!: number;
  @ApiProperty() prompt_tokens!: number;
  @ApiProperty() completion_tokens!: number;
  @ApiProperty() total_tokens!: number;
}

export class RoomAiUsageDto {
  @ApiProperty() room_id!: string;
  @ApiProperty({ description: 'AI replies in the room, stopped and failed ones included' }) replies!: number;
  @ApiProperty() prompt_tokens!: number;
  @ApiProperty() completion_tokens!: number;
  @ApiProperty() total_tokens!: number;
  @ApiProperty({ type: [RoomAiModelUsageDto] }) by_model!: RoomAiModelUsageDto[];
}

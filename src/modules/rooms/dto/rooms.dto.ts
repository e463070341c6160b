import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsString, Max, Min } from 'class-validator';
import { IsDisplayName, IsWholeText, Trimmed } from '../../../common/display-text';
import { Optional, OptionalOrNull } from '../../../common/http/optional-field';
import { CodePointLength, MaxCodePoints } from '../../../common/text-length';

const USER_ID_MAX = 256;

// POST /api/v1/chat/rooms
export class CreateRoomDto {
  @ApiProperty()
  @Trimmed()
  @IsString()
  @CodePointLength(1, 100)
  // a room's name, as a session's title: trimmed, printable, no bidi controls, shows something, whole
  // Unicode
  @IsDisplayName()
  name!: string;
  @ApiProperty({ enum: ['public', 'private'] }) @IsIn(['public', 'private']) kind!: 'public' | 'private';
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxCodePoints(500)
  @IsWholeText()
  topic?: string;
  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', maxLength: USER_ID_MAX },
    maxItems: 100,
    description: 'user ids invited at once',
  })
  @Optional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxCodePoints(USER_ID_MAX, { each: true })
  invite?: string[];
}

// PATCH /api/v1/chat/rooms/:id (room settings)
export class UpdateRoomDto {
  @ApiPropertyOptional()
  @Optional()
  @Trimmed()
  @IsString()
  @CodePointLength(1, 100)
  // a room's name, as a session's title: trimmed, printable, no bidi controls, shows something, whole
  // Unicode
  @IsDisplayName()
  name?: string;
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxCodePoints(500)
  @IsWholeText()
  topic?: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description:
      'the model `@ai` asks in the room: a configured model id (GET /api/v1/models), `off`, or null for the default model',
  })
  // null: back to the default model
  @OptionalOrNull()
  @IsString()
  @MaxCodePoints(128)
  ai_model?: string | null;
}

// POST /api/v1/chat/dms, invite, block, moderators
export class UserRefDto {
  @ApiProperty()
  @IsString()
  @CodePointLength(1, USER_ID_MAX)
  user_id!: string;
}

export class ModeratorDto extends UserRefDto {
  @ApiProperty({ description: 'true names a moderator, false makes them a member again' })
  @IsBoolean()
  moderator!: boolean;
}

// POST /api/v1/chat/rooms/:id/moderation/:action
export class ModerationDto extends UserRefDto {
  // mutes only; default one hour
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 365 * 86_400,
    description: 'mutes only; default one hour',
  })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(365 * 86_400)
  duration_seconds?: number;
}

// POST /api/v1/chat/rooms/:id/messages/:messageId/report
export class ReportDto {
  @ApiPropertyOptional({ description: 'stored encrypted' })
  @Optional()
  @IsString()
  @MaxCodePoints(1000)
  reason?: string;
}

// GET /api/v1/chat/rooms/:id/messages
export class HistoryQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    description: 'messages before this seq (default: the newest)',
  })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description:
      'instead of a page: the messages changed (edited, deleted, reactions) after this change number, as they are now (docs/protocol.md, "Change log"); `limit` counts changes (default 100); not with `before`',
  })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  changed_after?: number;
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50 })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

// admin lists
export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  page?: number;
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 50 })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

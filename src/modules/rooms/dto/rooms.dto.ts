import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { IsDisplayName, IsWholeText } from '../../../common/display-text';
import { Optional, OptionalOrNull } from '../../../common/http/optional-field';

const USER_ID_MAX = 256;

// POST /api/v1/chat/rooms
export class CreateRoomDto {
  @ApiProperty({ minLength: 1, maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  // a room's name, as a session's title: printable, no bidi controls, shows something, whole Unicode
  @IsDisplayName()
  name!: string;
  @ApiProperty({ enum: ['public', 'private'] }) @IsIn(['public', 'private']) kind!: 'public' | 'private';
  @ApiPropertyOptional({ maxLength: 500 })
  @Optional()
  @IsString()
  @MaxLength(500)
  @IsWholeText()
  topic?: string;
  @ApiPropertyOptional({
    type: [String],
    maxItems: 100,
    description: 'user ids invited at once (each at most 256 characters)',
  })
  @Optional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(USER_ID_MAX, { each: true })
  invite?: string[];
}

// PATCH /api/v1/chat/rooms/:id (room settings)
export class UpdateRoomDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  // a room's name, as a session's title: printable, no bidi controls, shows something, whole Unicode
  @IsDisplayName()
  name?: string;
  @ApiPropertyOptional({ maxLength: 500 })
  @Optional()
  @IsString()
  @MaxLength(500)
  @IsWholeText()
  topic?: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    maxLength: 128,
    description:
      'the model `@ai` asks in the room: a configured model id (GET /api/v1/models), `off`, or null for the default model',
  })
  // null: back to the default model
  @OptionalOrNull()
  @IsString()
  @MaxLength(128)
  ai_model?: string | null;
}

// POST /api/v1/chat/dms, invite, block, moderators
export class UserRefDto {
  @ApiProperty({ minLength: 1, maxLength: USER_ID_MAX })
  @IsString()
  @MinLength(1)
  @MaxLength(USER_ID_MAX)
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
  @ApiPropertyOptional({ maxLength: 1000, description: 'stored encrypted' })
  @Optional()
  @IsString()
  @MaxLength(1000)
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

import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';

const USER_ID_MAX = 256;

// POST /api/v1/chat/rooms
export class CreateRoomDto {
  @IsString() @MinLength(1) @MaxLength(100) name!: string;
  @IsIn(['public', 'private']) kind!: 'public' | 'private';
  @IsOptional() @IsString() @MaxLength(500) topic?: string;
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(USER_ID_MAX, { each: true })
  invite?: string[];
}

// PATCH /api/v1/chat/rooms/:id (room settings)
export class UpdateRoomDto {
  @IsOptional() @IsString() @MinLength(1) @MaxLength(100) name?: string;
  @IsOptional() @IsString() @MaxLength(500) topic?: string;
}

// POST /api/v1/chat/dms, invite, block, moderators
export class UserRefDto {
  @IsString() @MinLength(1) @MaxLength(USER_ID_MAX) user_id!: string;
}

export class ModeratorDto extends UserRefDto {
  @IsBoolean() moderator!: boolean;
}

// POST /api/v1/chat/rooms/:id/moderation/:action
export class ModerationDto extends UserRefDto {
  // mutes only; default one hour
  @IsOptional() @IsInt() @Min(1) @Max(365 * 86_400) duration_seconds?: number;
}

// POST /api/v1/chat/rooms/:id/messages/:messageId/report
export class ReportDto {
  @IsOptional() @IsString() @MaxLength(1000) reason?: string;
}

// GET /api/v1/chat/rooms/:id/messages
export class HistoryQueryDto {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) before?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

// admin lists
export class PageQueryDto {
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1_000_000) page?: number;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

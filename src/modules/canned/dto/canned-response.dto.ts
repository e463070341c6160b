import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';
import { CodePointLength } from '../../../common/text-length';

// A canned response is sent as a message: MAX_MESSAGE_LENGTH (default 4,096) bounds it as well, when
// set lower (CannedResponsesService).
export const CANNED_TEXT_MAX = 4000;

const SHORTCUT = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const SHORTCUT_MESSAGE = 'shortcut must be 1-32 lower-case letters, digits, "_" or "-"';
const SHORTCUT_DOC = { pattern: SHORTCUT.source, description: 'typed after / in the reply box; unique' };

// POST /chat/admin/canned-responses
export class CreateCannedResponseDto {
  @ApiProperty() @IsString() @CodePointLength(1, 100) title!: string;
  @ApiProperty() @IsString() @CodePointLength(1, CANNED_TEXT_MAX) text!: string;
  @ApiProperty(SHORTCUT_DOC)
  @IsString()
  @Matches(SHORTCUT, { message: SHORTCUT_MESSAGE })
  shortcut!: string;
}

// PATCH /chat/admin/canned-responses/:id
export class UpdateCannedResponseDto {
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @CodePointLength(1, 100)
  title?: string;
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @CodePointLength(1, CANNED_TEXT_MAX)
  text?: string;
  @ApiPropertyOptional(SHORTCUT_DOC)
  @Optional()
  @IsString()
  @Matches(SHORTCUT, { message: SHORTCUT_MESSAGE })
  shortcut?: string;
}

export class CannedResponseDto {
  @ApiProperty() id!: string;
  @ApiProperty() title!: string;
  @ApiProperty() text!: string;
  @ApiProperty() shortcut!: string;
  @ApiProperty({ description: 'the admin who created it' }) created_by!: string;
  @ApiProperty({ format: 'date-time' }) updated_at!: string;
}

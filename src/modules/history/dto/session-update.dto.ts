import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsString, Length } from 'class-validator';
import { IsDisplayName } from '../../../common/display-text';
import { Optional } from '../../../common/http/optional-field';

export const SESSION_NAME_MAX = 120;

// PATCH /chat/sessions/:id: rename and/or archive (unarchive) one of one's sessions
export class SessionUpdateDto {
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: SESSION_NAME_MAX,
    description: 'the new title: printable text, not only spaces (trimmed)',
  })
  @Optional()
  @IsString()
  @Length(1, SESSION_NAME_MAX)
  // printable, no bidi controls, shows something, whole Unicode (the rule of a room's name too)
  @IsDisplayName()
  name?: string;

  @ApiPropertyOptional({ description: 'true archives the session, false brings it back' })
  @Optional()
  @IsBoolean()
  archived?: boolean;
}

// GET /chat/sessions/:id/export
export class SessionExportDto {
  @ApiPropertyOptional({ enum: ['md', 'json'], default: 'md' })
  @Optional()
  @IsIn(['md', 'json'])
  format?: 'md' | 'json';
}

import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsString } from 'class-validator';
import { IsDisplayName, Trimmed } from '../../../common/display-text';
import { Optional } from '../../../common/http/optional-field';
import { CodePointLength } from '../../../common/text-length';

export const SESSION_NAME_MAX = 120;

// PATCH /chat/sessions/:id: rename and/or archive (unarchive) one of one's sessions
export class SessionUpdateDto {
  @ApiPropertyOptional({
    description: 'the new title: printable text, not only spaces (trimmed)',
  })
  @Optional()
  // trimmed before it is counted, as docs/protocol.md says ("Session library"): until the text-limits
  // audit of session 42 the spaces counted, and 120 letters between two spaces were 400 (1 of 1)
  @Trimmed()
  @IsString()
  @CodePointLength(1, SESSION_NAME_MAX)
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

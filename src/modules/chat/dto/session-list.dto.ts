import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, Matches, Max, Min } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';
import { SESSION_CURSOR } from '../../sessions/session-rules';
import { LIST_PAGE } from '../../sessions/sessions.service';

// GET /chat/sessions: the user's sessions; `archived=true` lists the archived ones instead. A page
// holds `limit` sessions (100 by default, as before paging); a full page's answer has a Link header
// (rel="next") to the page after it, by the `before` cursor (docs/protocol.md, "Session library").
export class SessionListDto {
  @ApiPropertyOptional({ enum: ['true', 'false'], default: 'false', description: 'true: the archived ones' })
  @Optional()
  @IsIn(['true', 'false'])
  archived?: 'true' | 'false';

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: LIST_PAGE, default: LIST_PAGE })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(LIST_PAGE)
  limit?: number;

  @ApiPropertyOptional({
    description: 'opaque cursor: the sessions after this one (from the Link header of the page before)',
    example: '1767225600000.0b7c3a9e-2f41-4d7e-9a56-1c2d3e4f5a6b',
  })
  @Optional()
  @Matches(SESSION_CURSOR, { message: 'before must be a cursor from a Link header' })
  before?: string;
}

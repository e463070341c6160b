import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';

// GET /chat/sessions: the user's sessions; `archived=true` lists the archived ones instead
export class SessionListDto {
  @ApiPropertyOptional({ enum: ['true', 'false'], default: 'false', description: 'true: the archived ones' })
  @Optional()
  @IsIn(['true', 'false'])
  archived?: 'true' | 'false';
}

import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

// GET /chat/sessions: the user's sessions; `archived=true` lists the archived ones instead
export class SessionListDto {
  @ApiPropertyOptional({ enum: ['true', 'false'], default: 'false', description: 'true: the archived ones' })
  @IsOptional()
  @IsIn(['true', 'false'])
  archived?: 'true' | 'false';
}

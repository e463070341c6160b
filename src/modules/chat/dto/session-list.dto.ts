import { IsIn, IsOptional } from 'class-validator';

// GET /chat/sessions: the user's sessions; `archived=true` lists the archived ones instead
export class SessionListDto {
  @IsOptional() @IsIn(['true', 'false']) archived?: 'true' | 'false';
}

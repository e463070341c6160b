import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { TakeoverService } from './takeover.service';

// REST side of the takeover (CONTRACT §3); 409 SESSION_LOCKED names the admin holding it.
@Controller('chat/admin/sessions/:id')
@AdminOnly()
export class TakeoverController {
  constructor(private readonly takeover: TakeoverService) {}

  @Post('takeover')
  @HttpCode(200)
  claim(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.takeover.claim(id, principal);
  }

  @Post('release')
  @HttpCode(200)
  async release(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    await this.takeover.release(id, principal);
    return { session_id: id, released: true };
  }
}

import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import type { Principal } from '../../common/auth/principal';
import { ReleaseResultDto, TakeoverViewDto } from './dto/takeover-responses.dto';
import { TakeoverService } from './takeover.service';

// REST side of the takeover (CONTRACT §3); 409 SESSION_LOCKED names the admin holding it.
@Controller('chat/admin/sessions/:id')
@AdminOnly()
@ApiTags('takeover')
@ApiBearerAuth()
@ApiErrors(401, 403, 404)
export class TakeoverController {
  constructor(private readonly takeover: TakeoverService) {}

  @Post('takeover')
  @ApiOkResponse({
    type: TakeoverViewDto,
    description: 'the claim (a lease of TAKEOVER_GRACE without a socket)',
  })
  @ApiErrors(409)
  @HttpCode(200)
  claim(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.takeover.claim(id, principal);
  }

  @Post('release')
  @ApiOkResponse({ type: ReleaseResultDto })
  @HttpCode(200)
  async release(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    await this.takeover.release(id, principal);
    return { session_id: id, released: true };
  }
}

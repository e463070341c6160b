import { Body, Controller, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { CsatDto, CsatResultDto, FeedbackDto, FeedbackResultDto } from './dto/feedback.dto';
import { FeedbackService } from './feedback.service';

// The owner rates a reply of their own session, or the help of the takeover that ended; anyone else
// gets 404.
@Controller('chat/sessions/:id')
@ApiTags('sessions')
@ApiBearerAuth()
@ApiErrors(400, 401, 404)
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Put('messages/:messageId/feedback')
  @ApiOkResponse({ type: FeedbackResultDto, description: 'the rating, replacing an earlier one' })
  rate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') sessionId: string,
    @Param('messageId') messageId: string,
    @Body() body: FeedbackDto,
  ) {
    return this.feedback.rate(principal.userId, sessionId, messageId, body.rating, body.reason);
  }

  @Post('csat')
  @HttpCode(200)
  @ApiOkResponse({
    type: CsatResultDto,
    description: 'the rating of the ended takeover, stored on the session',
  })
  csat(@CurrentPrincipal() principal: Principal, @Param('id') sessionId: string, @Body() body: CsatDto) {
    return this.feedback.rateTakeover(principal.userId, sessionId, body.rating, body.comment);
  }
}

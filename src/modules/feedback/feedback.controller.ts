import { Body, Controller, HttpCode, Param, Post, Put } from '@nestjs/common';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { CsatDto, FeedbackDto } from './dto/feedback.dto';
import { FeedbackService } from './feedback.service';

// The owner rates a reply of their own session; anyone else gets 404.
@Controller('chat/sessions/:id')
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Put('messages/:messageId/feedback')
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
  csat(@CurrentPrincipal() principal: Principal, @Param('id') sessionId: string, @Body() body: CsatDto) {
    return this.feedback.rateTakeover(principal.userId, sessionId, body.rating, body.comment);
  }
}

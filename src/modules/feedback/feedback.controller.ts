import { Body, Controller, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { FeedbackDto, FeedbackResultDto } from './dto/feedback.dto';
import { FeedbackService } from './feedback.service';

// The owner rates a reply of their own session; anyone else gets 404.
@Controller('chat/sessions/:id/messages/:messageId')
@ApiTags('sessions')
@ApiBearerAuth()
@ApiErrors(400, 401, 404)
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Put('feedback')
  @ApiOkResponse({ type: FeedbackResultDto, description: 'the rating, replacing an earlier one' })
  rate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') sessionId: string,
    @Param('messageId') messageId: string,
    @Body() body: FeedbackDto,
  ) {
    return this.feedback.rate(principal.userId, sessionId, messageId, body.rating, body.reason);
  }
}

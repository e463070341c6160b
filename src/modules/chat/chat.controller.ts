import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { LlmRegistry } from '../llm/llm.registry';
import { durationAsOf } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { WholeSessionReads } from '../sessions/session-reads';
import { ModelDto, SessionDetailDto, SessionSummaryDto } from './dto/chat-responses.dto';
import { SessionListDto } from './dto/session-list.dto';
import { sessionDetail, sessionSummary } from './dto/session-views';

@Controller('chat')
@ApiTags('sessions')
@ApiBearerAuth()
@ApiErrors(401)
export class ChatController {
  constructor(
    private readonly registry: LlmRegistry,
    private readonly sessions: SessionsService,
  ) {}

  @Get('models')
  @ApiOkResponse({ type: [ModelDto], description: 'the configured models; the first is the default' })
  models() {
    return this.registry.models;
  }

  @Get('sessions')
  @ApiOkResponse({ type: [SessionSummaryDto], description: 'own sessions, most recent activity first' })
  @ApiErrors(400)
  async list(@CurrentPrincipal() principal: Principal, @Query() query: SessionListDto) {
    return (await this.sessions.listForUser(principal.userId, query.archived === 'true')).map(sessionSummary);
  }

  // owner or admin; anyone else gets 404, so ids of other users' sessions leak nothing
  @Get('sessions/:id')
  @WholeSessionReads()
  @ApiOkResponse({ type: SessionDetailDto, description: 'the session with all its messages in order' })
  @ApiErrors(404, 429)
  async detail(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    const session = await this.sessions.withMessages(id, principal);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    // an active session's duration so far, as the admin list reports it
    return { ...sessionDetail(session), duration_ms: durationAsOf(session, new Date()) };
  }
}

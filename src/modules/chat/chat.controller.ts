import { Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { LlmRegistry } from '../llm/llm.registry';
import { durationAsOf, parseSessionCursor, sessionCursor } from '../sessions/session-rules';
import { LIST_PAGE, SessionsService } from '../sessions/sessions.service';
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
  @ApiOkResponse({
    type: [SessionSummaryDto],
    description: 'own sessions, most recent activity first; a full page links to the next (Link, rel="next")',
    headers: {
      Link: { schema: { type: 'string' }, description: '<…?before=…>; rel="next" (full pages only)' },
    },
  })
  @ApiErrors(400)
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: SessionListDto,
    @Res({ passthrough: true }) response: Response,
  ) {
    const limit = query.limit ?? LIST_PAGE;
    const sessions = await this.sessions.listForUser(principal.userId, {
      archived: query.archived === 'true',
      limit,
      before: query.before === undefined ? undefined : parseSessionCursor(query.before),
    });
    const last = sessions.at(-1);
    if (last && sessions.length === limit)
      response.setHeader('Link', `<${nextSessionsPage(query, limit, sessionCursor(last))}>; rel="next"`);
    return sessions.map(sessionSummary);
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

// the link to the page after `cursor`, with the query's own filter and page size
function nextSessionsPage(query: SessionListDto, limit: number, cursor: string): string {
  const next = new URLSearchParams();
  if (query.archived !== undefined) next.set('archived', query.archived);
  next.set('limit', String(limit));
  next.set('before', cursor);
  return `/chat/sessions?${next.toString()}`;
}

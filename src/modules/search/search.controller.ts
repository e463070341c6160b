import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { SessionsService } from '../sessions/sessions.service';
import { WholeSessionReads } from '../sessions/session-reads';
import type { SearchHit } from '../sessions/session.types';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { AdminSearchQueryDto, SearchQueryDto, SearchResultDto } from './dto/search-query.dto';

// Search by blind index (docs/protocol.md, "Search"): one's own sessions, or every one for admins.
// A search reads the logs of the sessions it finds: it takes a place for whole-session reads
// (docs/protocol.md, "Whole-session reads").
@Controller('chat')
@ApiTags('search')
@ApiBearerAuth()
@ApiErrors(400, 401, 429)
@WholeSessionReads()
export class SearchController {
  constructor(private readonly sessions: SessionsService) {}

  @Get('search')
  @ApiOkResponse({
    type: SearchResultDto,
    description: 'own sessions holding every word, newest activity first (a hit per matching message)',
  })
  async search(@CurrentPrincipal() principal: Principal, @Query() query: SearchQueryDto) {
    const hits = await this.sessions.search(query.q, { userId: principal.userId, isAdmin: false });
    return { items: hits.map(hitView) };
  }

  @Get('admin/search')
  @AdminOnly()
  @ApiOkResponse({ type: SearchResultDto, description: "every user's sessions, deleted ones too" })
  @ApiErrors(403)
  async adminSearch(@Query() query: AdminSearchQueryDto) {
    const hits = await this.sessions.search(query.q, { userId: query.user_id, isAdmin: true });
    return { items: hits.map(hitView) };
  }
}

function hitView(hit: SearchHit) {
  return { ...hit, timestamp: hit.timestamp?.toISOString() };
}

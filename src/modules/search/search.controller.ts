import { Controller, Get, Query } from '@nestjs/common';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { SessionsService } from '../sessions/sessions.service';
import type { SearchHit } from '../sessions/session.types';
import { AdminSearchQueryDto, SearchQueryDto } from './dto/search-query.dto';

// Search by blind index (docs/protocol.md, "Search"): one's own sessions, or every one for admins.
@Controller('chat')
export class SearchController {
  constructor(private readonly sessions: SessionsService) {}

  @Get('search')
  async search(@CurrentPrincipal() principal: Principal, @Query() query: SearchQueryDto) {
    const hits = await this.sessions.search(query.q, { userId: principal.userId, isAdmin: false });
    return { items: hits.map(hitView) };
  }

  @Get('admin/search')
  @AdminOnly()
  async adminSearch(@Query() query: AdminSearchQueryDto) {
    const hits = await this.sessions.search(query.q, { userId: query.user_id, isAdmin: true });
    return { items: hits.map(hitView) };
  }
}

function hitView(hit: SearchHit) {
  return { ...hit, timestamp: hit.timestamp?.toISOString() };
}

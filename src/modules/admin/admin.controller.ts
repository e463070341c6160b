import { Controller, Get, Param, Query } from '@nestjs/common';
import { AdminOnly } from '../../common/auth/auth.decorators';
import { AdminService } from './admin.service';
import {
  AdminMetricsQueryDto,
  AdminSessionsQueryDto,
  toListQuery,
  toMetricsPeriod,
} from './dto/admin-query.dto';

// Admin dashboard API (CONTRACT §3); non-admins get 403 from the global guard.
@Controller('chat/admin')
@AdminOnly()
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('sessions')
  sessions(@Query() query: AdminSessionsQueryDto) {
    return this.admin.list(toListQuery(query));
  }

  // one user's sessions, with the same filters, sorts and pages
  @Get('users/:userId/sessions')
  userSessions(@Param('userId') userId: string, @Query() query: AdminSessionsQueryDto) {
    return this.admin.list(toListQuery({ ...query, user_id: userId }));
  }

  @Get('metrics')
  metrics(@Query() query: AdminMetricsQueryDto) {
    const { from, to } = toMetricsPeriod(query);
    return this.admin.metrics(from, to);
  }
}

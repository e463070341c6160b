import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../../common/auth/auth.decorators';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { AdminMetricsPageDto, AdminSessionPageDto } from './dto/admin-responses.dto';
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
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrors(400, 401, 403)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('sessions')
  @ApiOkResponse({ type: AdminSessionPageDto, description: "every user's sessions, filtered, sorted, paged" })
  sessions(@Query() query: AdminSessionsQueryDto) {
    return this.admin.list(toListQuery(query));
  }

  // one user's sessions, with the same filters, sorts and pages
  @Get('users/:userId/sessions')
  @ApiOkResponse({ type: AdminSessionPageDto })
  userSessions(@Param('userId') userId: string, @Query() query: AdminSessionsQueryDto) {
    return this.admin.list(toListQuery({ ...query, user_id: userId }));
  }

  @Get('metrics')
  @ApiOkResponse({
    type: AdminMetricsPageDto,
    description: 'exact numbers over the period (default: the last 30 days), and per slice with `buckets`',
  })
  metrics(@Query() query: AdminMetricsQueryDto) {
    const { from, to } = toMetricsPeriod(query);
    return this.admin.metrics(from, to, new Date(), { buckets: query.buckets });
  }
}

import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../../common/auth/auth.decorators';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { PageQueryDto } from './dto/rooms.dto';
import { AdminReportPageDto, AdminRoomPageDto } from './dto/room-responses.dto';
import { reportView, roomView } from './dto/room-views';
import { RoomReportsService } from './room-reports.service';
import { RoomsService } from './rooms.service';
import { RoomWriteRateGuard } from './room-write-rate.guard';

// Admins' lists of every room and of reported messages (docs/protocol.md, "REST"): the rooms API's
// prefix, guard and errors, as RoomsController, and registered after it.
@Controller('api/v1/chat')
@ApiTags('rooms')
@ApiBearerAuth()
@ApiErrors(400, 401)
@UseGuards(RoomWriteRateGuard)
export class RoomsAdminController {
  constructor(
    private readonly rooms: RoomsService,
    private readonly reports: RoomReportsService,
  ) {}

  // operationIds as before these routes left RoomsController: generated clients name methods by them
  @ApiOperation({ operationId: 'RoomsController_adminRooms', summary: 'Every room (admins)' })
  @Get('admin/rooms')
  @ApiOkResponse({ type: AdminRoomPageDto, description: 'every room, paged' })
  @ApiErrors(403)
  @AdminOnly()
  async adminRooms(@Query() query: PageQueryDto) {
    const page = query.page ?? 1;
    const limit = query.limit ?? 50;
    const { items, total } = await this.rooms.adminList((page - 1) * limit, limit);
    return { items: items.map(roomView), total, page, limit };
  }

  @ApiOperation({ operationId: 'RoomsController_adminReports', summary: 'Reported room messages (admins)' })
  @Get('admin/reports')
  @ApiOkResponse({ type: AdminReportPageDto, description: 'reported messages, newest first, paged' })
  @ApiErrors(403)
  @AdminOnly()
  async adminReports(@Query() query: PageQueryDto) {
    const page = query.page ?? 1;
    const limit = query.limit ?? 50;
    const { items, total } = await this.reports.list((page - 1) * limit, limit);
    return {
      items: items.map(reportView),
      total,
      page,
      limit,
    };
  }
}

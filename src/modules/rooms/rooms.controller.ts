import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import {
  CreateRoomDto,
  HistoryQueryDto,
  ModerationDto,
  ModeratorDto,
  PageQueryDto,
  ReportDto,
  UpdateRoomDto,
  UserRefDto,
} from './dto/rooms.dto';
import { roomSummaryView, roomView } from './dto/room-views';
import { RoomMessagesService } from './room-messages.service';
import { RoomReportsService } from './room-reports.service';
import { RoomsService, type ModerationAction } from './rooms.service';

const ACTIONS: ReadonlySet<string> = new Set(['mute', 'unmute', 'kick', 'ban', 'unban']);

// Rooms over HTTP (docs/protocol.md, "Rooms"): Bearer JWT (the global guard), snake_case, validated
// bodies; membership is checked by the services before every read.
@Controller('api/v1/chat')
export class RoomsController {
  constructor(
    private readonly rooms: RoomsService,
    private readonly messages: RoomMessagesService,
    private readonly reports: RoomReportsService,
  ) {}

  @Get('rooms')
  async list(@CurrentPrincipal() principal: Principal) {
    return (await this.rooms.listFor(principal)).map(roomSummaryView);
  }

  @Post('rooms')
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateRoomDto) {
    return roomView(await this.rooms.create(principal, body));
  }

  @Get('rooms/:id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return roomSummaryView(await this.rooms.get(principal, id));
  }

  @Patch('rooms/:id')
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: UpdateRoomDto,
  ) {
    return roomView(await this.rooms.updateSettings(principal, id, body));
  }

  @Get('rooms/:id/messages')
  async history(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: HistoryQueryDto,
  ) {
    const items = await this.messages.history(principal, id, query.before, query.limit ?? 50);
    // the cursor for the next (older) page
    return { items, next_before: items.length > 0 ? items[0].seq : null };
  }

  @Delete('rooms/:id/messages/:messageId')
  async deleteMessage(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('messageId') messageId: string,
  ) {
    await this.messages.delete(principal, id, messageId);
    return { message_id: messageId, deleted: true };
  }

  @Post('rooms/:id/messages/:messageId/report')
  @HttpCode(201)
  async report(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('messageId') messageId: string,
    @Body() body: ReportDto,
  ) {
    const report = await this.reports.report(principal, id, messageId, body.reason);
    return { report_id: report.id };
  }

  @Get('rooms/:id/participants')
  async participants(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return (await this.rooms.participantsOf(principal, id)).map((member) => ({
      user_id: member.user_id,
      role: member.role,
      muted_until: member.muted_until?.toISOString() ?? null,
      presence: member.presence,
    }));
  }

  @Post('rooms/:id/join')
  @HttpCode(200)
  async join(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    const { room } = await this.rooms.join(principal, id);
    return roomView(room);
  }

  @Post('rooms/:id/leave')
  @HttpCode(200)
  async leave(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    await this.rooms.leave(principal, id);
    return { room_id: id, left: true };
  }

  @Post('rooms/:id/invite')
  @HttpCode(200)
  async invite(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: UserRefDto) {
    await this.rooms.invite(principal, id, body.user_id);
    return { room_id: id, user_id: body.user_id, invited: true };
  }

  @Post('rooms/:id/moderators')
  @HttpCode(200)
  async moderator(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ModeratorDto,
  ) {
    await this.rooms.setRole(principal, id, body.user_id, body.moderator);
    return { room_id: id, user_id: body.user_id, role: body.moderator ? 'moderator' : 'member' };
  }

  @Post('rooms/:id/moderation/:action')
  @HttpCode(200)
  async moderate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('action') action: string,
    @Body() body: ModerationDto,
  ) {
    if (!ACTIONS.has(action)) throw new DomainException(ErrorCode.NOT_FOUND, 'Unknown moderation action.');
    const duration = body.duration_seconds !== undefined ? body.duration_seconds * 1000 : undefined;
    await this.rooms.moderate(principal, id, action as ModerationAction, body.user_id, duration);
    return { room_id: id, user_id: body.user_id, action };
  }

  @Post('dms')
  async openDm(@CurrentPrincipal() principal: Principal, @Body() body: UserRefDto) {
    return roomView(await this.rooms.openDm(principal, body.user_id));
  }

  @Get('blocks')
  async blocks(@CurrentPrincipal() principal: Principal) {
    return { user_ids: await this.reports.blocked(principal) };
  }

  @Post('blocks')
  @HttpCode(200)
  async block(@CurrentPrincipal() principal: Principal, @Body() body: UserRefDto) {
    await this.reports.block(principal, body.user_id);
    return { user_id: body.user_id, blocked: true };
  }

  @Delete('blocks/:userId')
  async unblock(@CurrentPrincipal() principal: Principal, @Param('userId') userId: string) {
    await this.reports.unblock(principal, userId);
    return { user_id: userId, blocked: false };
  }

  @Get('admin/rooms')
  @AdminOnly()
  async adminRooms(@Query() query: PageQueryDto) {
    const page = query.page ?? 1;
    const limit = query.limit ?? 50;
    const { items, total } = await this.rooms.adminList((page - 1) * limit, limit);
    return { items: items.map(roomView), total, page, limit };
  }

  @Get('admin/reports')
  @AdminOnly()
  async adminReports(@Query() query: PageQueryDto) {
    const page = query.page ?? 1;
    const limit = query.limit ?? 50;
    const { items, total } = await this.reports.list((page - 1) * limit, limit);
    return {
      items: items.map((report) => ({ ...report, at: report.at.toISOString() })),
      total,
      page,
      limit,
    };
  }
}

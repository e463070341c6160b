import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { ErrorBodyDto } from '../../common/errors/error-body.dto';
import {
  CreateRoomDto,
  HistoryQueryDto,
  ModerationDto,
  ModeratorDto,
  ReportDto,
  UpdateRoomDto,
  UserRefDto,
} from './dto/rooms.dto';
import {
  MessageDeletedDto,
  ModerationResultDto,
  ParticipantDto,
  ReportCreatedDto,
  RoomDto,
  RoomHistoryDto,
  RoomInvitedDto,
  RoomLeftDto,
  RoomAiUsageDto,
  RoomRoleDto,
  RoomSummaryDto,
} from './dto/room-responses.dto';
import { roomSummaryView, roomView } from './dto/room-views';
import { RoomAiService } from './room-ai.service';
import { RoomMembershipService, type ModerationAction } from './room-membership.service';
import { RoomMessagesService } from './room-messages.service';
import { RoomReportsService } from './room-reports.service';
import { RoomsService } from './rooms.service';
import { RoomWriteRateGuard } from './room-write-rate.guard';

const ACTION_NAMES = ['mute', 'unmute', 'kick', 'ban', 'unban'];
const ACTIONS: ReadonlySet<string> = new Set(ACTION_NAMES);

// 403 in a room: not a member (or banned), or not allowed to do this there
const ApiRoomForbidden = () =>
  ApiResponse({
    status: 403,
    description: 'NOT_A_MEMBER, BANNED, or FORBIDDEN (not allowed in this room)',
    type: ErrorBodyDto,
  });

// Rooms over HTTP (docs/protocol.md, "Rooms"): Bearer JWT (the global guard), snake_case, validated
// bodies; membership is checked by the services before every read. A user's blocks are in
// BlocksController, admins' lists in RoomsAdminController.
@Controller('api/v1/chat')
@ApiTags('rooms')
@ApiBearerAuth()
@ApiErrors(400, 401)
@UseGuards(RoomWriteRateGuard)
export class RoomsController {
  constructor(
    private readonly rooms: RoomsService,
    private readonly membership: RoomMembershipService,
    private readonly messages: RoomMessagesService,
    private readonly reports: RoomReportsService,
    private readonly ai: RoomAiService,
  ) {}

  @Get('rooms')
  @ApiOkResponse({
    type: [RoomSummaryDto],
    description: "public rooms and the user's rooms and invitations",
  })
  async list(@CurrentPrincipal() principal: Principal) {
    return (await this.rooms.listFor(principal)).map(roomSummaryView);
  }

  @Post('rooms')
  @ApiCreatedResponse({ type: RoomDto, description: 'the room; its creator is the owner' })
  @ApiErrors(429, [403, 'FORBIDDEN: the user made ROOM_MAX_OWNED rooms already'])
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateRoomDto) {
    return roomView(await this.rooms.create(principal, body));
  }

  @Get('rooms/:id')
  @ApiOkResponse({ type: RoomSummaryDto })
  @ApiErrors(404)
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return roomSummaryView(await this.rooms.get(principal, id));
  }

  @Patch('rooms/:id')
  @ApiOkResponse({ type: RoomDto, description: 'room settings (owner, moderators, admins)' })
  @ApiRoomForbidden()
  @ApiErrors([400, 'INVALID_MESSAGE: a bad field, or none of name, topic, ai_model'], 404, 429)
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: UpdateRoomDto,
  ) {
    return roomView(await this.rooms.updateSettings(principal, id, body));
  }

  @Get('rooms/:id/ai-usage')
  @ApiOkResponse({
    type: RoomAiUsageDto,
    description: '`@ai` tokens billed to the room, summed over its replies (owner, moderators, admins)',
  })
  @ApiRoomForbidden()
  @ApiErrors(404)
  async aiUsage(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    const { total, byModel } = await this.ai.usageOf(principal, id);
    return { room_id: id, ...total, by_model: byModel };
  }

  @Get('rooms/:id/messages')
  @ApiOkResponse({ type: RoomHistoryDto, description: 'members only: a page of messages before `before`' })
  @ApiRoomForbidden()
  @ApiErrors(404)
  async history(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: HistoryQueryDto,
  ) {
    if (query.changed_after !== undefined) {
      if (query.before !== undefined)
        throw new DomainException(ErrorCode.INVALID_MESSAGE, 'changed_after and before do not go together.');
      // the messages changed after the number, as they are now (docs/protocol.md, "Change log")
      const page = await this.messages.changedAfter(principal, id, query.changed_after, query.limit);
      return { ...page, next_before: null };
    }
    const items = await this.messages.history(principal, id, query.before, query.limit ?? 50);
    // the cursor for the next (older) page
    return { items, next_before: items.length > 0 ? items[0].seq : null };
  }

  @Delete('rooms/:id/messages/:messageId')
  @ApiOkResponse({ type: MessageDeletedDto, description: 'soft deleted (sender, owner, moderators, admins)' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  async deleteMessage(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('messageId') messageId: string,
  ) {
    await this.messages.delete(principal, id, messageId);
    return { message_id: messageId, deleted: true };
  }

  @Post('rooms/:id/messages/:messageId/report')
  @ApiCreatedResponse({ type: ReportCreatedDto, description: 'reported; admins are alerted' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
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
  @ApiOkResponse({ type: [ParticipantDto], description: "members only: the room's members" })
  @ApiRoomForbidden()
  @ApiErrors(404)
  async participants(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return (await this.rooms.participantsOf(principal, id)).map((member) => ({
      user_id: member.user_id,
      role: member.role,
      muted_until: member.muted_until?.toISOString() ?? null,
      presence: member.presence,
    }));
  }

  @Post('rooms/:id/join')
  @ApiOkResponse({ type: RoomDto, description: 'a member now (or already)' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  @HttpCode(200)
  async join(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    const { room } = await this.membership.join(principal, id);
    return roomView(room);
  }

  @Post('rooms/:id/leave')
  @ApiOkResponse({ type: RoomLeftDto, description: 'a direct message cannot be left (400)' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  @HttpCode(200)
  async leave(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    await this.membership.leave(principal, id);
    return { room_id: id, left: true };
  }

  @Post('rooms/:id/invite')
  @ApiOkResponse({
    type: RoomInvitedDto,
    description: 'members invite to public rooms; owners and moderators to private ones',
  })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  @HttpCode(200)
  async invite(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: UserRefDto) {
    await this.membership.invite(principal, id, body.user_id);
    return { room_id: id, user_id: body.user_id, invited: true };
  }

  @Post('rooms/:id/moderators')
  @ApiOkResponse({ type: RoomRoleDto, description: 'the owner (or an admin) names or unnames a moderator' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  @HttpCode(200)
  async moderator(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: ModeratorDto,
  ) {
    await this.membership.setRole(principal, id, body.user_id, body.moderator);
    return { room_id: id, user_id: body.user_id, role: body.moderator ? 'moderator' : 'member' };
  }

  @Post('rooms/:id/moderation/:action')
  @ApiParam({ name: 'action', enum: ACTION_NAMES })
  @ApiOkResponse({ type: ModerationResultDto, description: 'owners, moderators and admins' })
  @ApiRoomForbidden()
  @ApiErrors(404, 429)
  @HttpCode(200)
  async moderate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('action') action: string,
    @Body() body: ModerationDto,
  ) {
    if (!ACTIONS.has(action)) throw new DomainException(ErrorCode.NOT_FOUND, 'Unknown moderation action.');
    const duration = body.duration_seconds !== undefined ? body.duration_seconds * 1000 : undefined;
    await this.membership.moderate(principal, id, action as ModerationAction, body.user_id, duration);
    return { room_id: id, user_id: body.user_id, action };
  }

  @Post('dms')
  @ApiCreatedResponse({
    type: RoomDto,
    description: 'the direct-message room of the pair, made on first use',
  })
  @ApiErrors(429)
  async openDm(@CurrentPrincipal() principal: Principal, @Body() body: UserRefDto) {
    return roomView(await this.rooms.openDm(principal, body.user_id));
  }
}

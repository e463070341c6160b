import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { UserRefDto } from './dto/rooms.dto';
import { BlockListDto, BlockResultDto } from './dto/room-responses.dto';
import { RoomReportsService } from './room-reports.service';
import { RoomWriteRateGuard } from './room-write-rate.guard';

// A user's blocks over HTTP (docs/protocol.md, "REST"): the rooms API's prefix, guard and errors, as
// RoomsController, and registered after it.
@Controller('api/v1/chat')
@ApiTags('rooms')
@ApiBearerAuth()
@ApiErrors(400, 401)
@UseGuards(RoomWriteRateGuard)
export class BlocksController {
  constructor(private readonly reports: RoomReportsService) {}

  // operationIds as before these routes left RoomsController: generated clients name methods by them
  @ApiOperation({ operationId: 'RoomsController_blocks', summary: 'The users the caller blocked' })
  @Get('blocks')
  @ApiOkResponse({ type: BlockListDto })
  async blocks(@CurrentPrincipal() principal: Principal) {
    return { user_ids: await this.reports.blocked(principal) };
  }

  @ApiOperation({
    operationId: 'RoomsController_block',
    summary: 'Block a user: their direct messages are refused',
  })
  @Post('blocks')
  @ApiOkResponse({ type: BlockResultDto, description: "the user's messages are refused (BLOCKED)" })
  @HttpCode(200)
  @ApiErrors(429)
  async block(@CurrentPrincipal() principal: Principal, @Body() body: UserRefDto) {
    await this.reports.block(principal, body.user_id);
    return { user_id: body.user_id, blocked: true };
  }

  @ApiOperation({ operationId: 'RoomsController_unblock', summary: 'Unblock a user' })
  @Delete('blocks/:userId')
  @ApiOkResponse({ type: BlockResultDto })
  @ApiErrors(429)
  async unblock(@CurrentPrincipal() principal: Principal, @Param('userId') userId: string) {
    await this.reports.unblock(principal, userId);
    return { user_id: userId, blocked: false };
  }
}

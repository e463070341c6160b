import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { PublicRoomPageDto, PublicRoomsQueryDto } from './dto/public-rooms.dto';
import { publicRoomView } from './dto/room-views';
import { PUBLIC_PAGE_DEFAULT, parsePublicRoomCursor } from './public-room-search';
import { PublicRoomsService } from './public-rooms.service';

// Finding public rooms (docs/protocol.md, "Finding public rooms"). Its own controller, registered
// before RoomsController, so `rooms/public` is this route and not `rooms/:id` with id "public" (a
// room's id is a UUID or `dm_…`, never that).
@Controller('api/v1/chat')
@ApiTags('rooms')
@ApiBearerAuth()
@ApiErrors(400, 401)
export class PublicRoomsController {
  constructor(private readonly publicRooms: PublicRoomsService) {}

  @Get('rooms/public')
  @ApiOkResponse({
    type: PublicRoomPageDto,
    description: 'every public room by name, a page at a time; `q` finds those whose name holds it',
  })
  async browse(@CurrentPrincipal() principal: Principal, @Query() query: PublicRoomsQueryDto) {
    const after = query.cursor === undefined ? undefined : parsePublicRoomCursor(query.cursor);
    if (query.cursor !== undefined && after === undefined)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'cursor must be a next_cursor of a page before.');
    const page = await this.publicRooms.browse(
      principal,
      query.q ?? '',
      after,
      query.limit ?? PUBLIC_PAGE_DEFAULT,
    );
    return { items: page.items.map(publicRoomView), next_cursor: page.next };
  }
}

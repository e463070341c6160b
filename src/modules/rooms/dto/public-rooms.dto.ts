import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { IsWholeText } from '../../../common/display-text';
import { Optional } from '../../../common/http/optional-field';
import { MaxCodePoints } from '../../../common/text-length';
import {
  PUBLIC_CURSOR,
  PUBLIC_CURSOR_MAX,
  PUBLIC_PAGE_DEFAULT,
  PUBLIC_PAGE_MAX,
  PUBLIC_QUERY_MAX,
  PUBLIC_QUERY_TEXT,
} from '../public-room-search';
import { RoomDto } from './room-responses.dto';

// GET /api/v1/chat/rooms/public: every public room by name, a page at a time, optionally those whose
// name holds `q` (docs/protocol.md, "Finding public rooms").
export class PublicRoomsQueryDto {
  @ApiPropertyOptional({
    description: 'rooms whose name holds this text, in any case (compatibility-normalized); empty: all',
  })
  @Optional()
  @IsString()
  @MaxCodePoints(PUBLIC_QUERY_MAX)
  @IsWholeText()
  // a name holds none (IsDisplayName), and MongoDB refuses a NUL in a pattern (a 500, not "none")
  @Matches(PUBLIC_QUERY_TEXT, { message: 'q must be printable text (no control characters)' })
  q?: string;

  @ApiPropertyOptional({
    maxLength: PUBLIC_CURSOR_MAX,
    description: 'opaque: the `next_cursor` of the page before (with the same `q`)',
  })
  @Optional()
  @IsString()
  @Matches(PUBLIC_CURSOR, { message: 'cursor must be a next_cursor of a page before' })
  cursor?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: PUBLIC_PAGE_MAX,
    default: PUBLIC_PAGE_DEFAULT,
  })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(PUBLIC_PAGE_MAX)
  limit?: number;
}

export class PublicRoomDto extends RoomDto {
  @ApiProperty({
    enum: ['invited', 'member', 'left', 'kicked', 'banned'],
    type: String,
    nullable: true,
    description: "the user's state in the room; null when never in it",
  })
  membership!: string | null;
}

export class PublicRoomPageDto {
  @ApiProperty({
    type: [PublicRoomDto],
    description: 'by name (case folded), then id; `last_message_at` as noted: up to a minute old',
  })
  items!: PublicRoomDto[];
  @ApiProperty({ type: String, nullable: true, description: 'the cursor of the next page; null on the last' })
  next_cursor!: string | null;
}

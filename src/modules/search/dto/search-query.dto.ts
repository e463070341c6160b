import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';
import { CodePointLength } from '../../../common/text-length';

// GET /chat/search?q= and GET /chat/admin/search?q=&user_id=
export class SearchQueryDto {
  @ApiProperty({ description: 'the words to find' })
  @IsString()
  @CodePointLength(1, 200)
  q!: string;
}

export class AdminSearchQueryDto extends SearchQueryDto {
  @ApiPropertyOptional({ description: "only this user's sessions" })
  @Optional()
  @IsString()
  @CodePointLength(1, 256)
  user_id?: string;
}

// SessionsService's SearchHit as the controller answers it
export class SearchHitDto {
  @ApiProperty() session_id!: string;
  @ApiProperty() session_name!: string;
  @ApiProperty() user_id!: string;
  @ApiPropertyOptional({ description: 'absent when the session name matched' }) message_id?: string;
  @ApiPropertyOptional() seq?: number;
  @ApiPropertyOptional({ enum: ['user', 'ai', 'admin', 'system'] }) sender?: string;
  @ApiPropertyOptional({ format: 'date-time' }) timestamp?: string;
  @ApiPropertyOptional({ description: 'the matching text around the words' }) snippet?: string;
}

export class SearchResultDto {
  @ApiProperty({ type: [SearchHitDto] }) items!: SearchHitDto[];
}

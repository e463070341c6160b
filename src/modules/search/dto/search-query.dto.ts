import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Length } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';

// GET /chat/search?q= and GET /chat/admin/search?q=&user_id=
export class SearchQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 200, description: 'the words to find' })
  @IsString()
  @Length(1, 200)
  q!: string;
}

export class AdminSearchQueryDto extends SearchQueryDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 256, description: "only this user's sessions" })
  @Optional()
  @IsString()
  @Length(1, 256)
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

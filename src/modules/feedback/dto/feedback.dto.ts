import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsString, Max, Min } from 'class-validator';
import { Optional } from '../../../common/http/optional-field';
import { MaxCodePoints } from '../../../common/text-length';

export const FEEDBACK_REASON_MAX = 500;

// PUT /chat/sessions/:id/messages/:messageId/feedback
export class FeedbackDto {
  @ApiProperty({ enum: ['up', 'down'] }) @IsIn(['up', 'down']) rating!: 'up' | 'down';
  @ApiPropertyOptional({ description: 'stored encrypted' })
  @Optional()
  @IsString()
  @MaxCodePoints(FEEDBACK_REASON_MAX)
  reason?: string;
}

export class FeedbackResultDto {
  @ApiProperty({ description: 'the rated reply (an ai_response id)' }) id!: string;
  @ApiProperty({ enum: ['up', 'down'] }) rating!: 'up' | 'down';
}

// POST /chat/sessions/:id/csat: the user rates the takeover that just ended
export class CsatDto {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 5 }) @IsInt() @Min(1) @Max(5) rating!: number;
  @ApiPropertyOptional() @Optional() @IsString() @MaxCodePoints(1000) comment?: string;
}

export class CsatResultDto {
  @ApiProperty() session_id!: string;
  @ApiProperty({ description: 'the admin whose help was rated' }) admin_id!: string;
  @ApiProperty({ type: String, nullable: true }) admin_name!: string | null;
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 5 }) rating!: number;
}

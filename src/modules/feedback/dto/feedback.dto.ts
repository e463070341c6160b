import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

export const FEEDBACK_REASON_MAX = 500;

// PUT /chat/sessions/:id/messages/:messageId/feedback
export class FeedbackDto {
  @ApiProperty({ enum: ['up', 'down'] }) @IsIn(['up', 'down']) rating!: 'up' | 'down';
  @ApiPropertyOptional({ maxLength: FEEDBACK_REASON_MAX, description: 'stored encrypted' })
  @IsOptional()
  @IsString()
  @MaxLength(FEEDBACK_REASON_MAX)
  reason?: string;
}

export class FeedbackResultDto {
  @ApiProperty({ description: 'the rated reply (an ai_response id)' }) id!: string;
  @ApiProperty({ enum: ['up', 'down'] }) rating!: 'up' | 'down';
}

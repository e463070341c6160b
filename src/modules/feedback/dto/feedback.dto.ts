import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

export const FEEDBACK_REASON_MAX = 500;

// PUT /chat/sessions/:id/messages/:messageId/feedback
export class FeedbackDto {
  @IsIn(['up', 'down']) rating!: 'up' | 'down';
  @IsOptional() @IsString() @MaxLength(FEEDBACK_REASON_MAX) reason?: string;
}

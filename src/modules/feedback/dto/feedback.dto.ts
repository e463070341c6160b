import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export const FEEDBACK_REASON_MAX = 500;

// PUT /chat/sessions/:id/messages/:messageId/feedback
export class FeedbackDto {
  @IsIn(['up', 'down']) rating!: 'up' | 'down';
  @IsOptional() @IsString() @MaxLength(FEEDBACK_REASON_MAX) reason?: string;
}

// POST /chat/sessions/:id/csat: the user rates the takeover that just ended
export class CsatDto {
  @IsInt() @Min(1) @Max(5) rating!: number;
  @IsOptional() @IsString() @MaxLength(1000) comment?: string;
}

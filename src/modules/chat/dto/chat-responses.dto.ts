import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

// OpenAPI shapes of the chat's HTTP answers (session-views.ts builds them).
const SENDERS = ['user', 'ai', 'admin', 'system'];

export class ModelDto {
  @ApiProperty({ example: 'gpt' }) id!: string;
  @ApiProperty({ example: 'GPT-4o mini' }) name!: string;
}

export class SessionSummaryDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'title; named by the model after the first exchange' }) name!: string;
  @ApiProperty() model_id!: string;
  @ApiProperty({ format: 'date-time' }) start_time!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) last_message_at!: string | null;
  @ApiProperty() message_count!: number;
  @ApiProperty() admin_assisted!: boolean;
  @ApiPropertyOptional({ type: String, nullable: true }) assisting_admin_name?: string | null;
  @ApiProperty({ description: 'an admin assists the session now' }) takeover_in_progress!: boolean;
  @ApiProperty() help_requested!: boolean;
  @ApiProperty({ description: 'a help request no admin has answered yet' }) help_pending!: boolean;
  @ApiProperty() is_active!: boolean;
  @ApiProperty({ description: 'replies rated up' }) feedback_up!: number;
  @ApiProperty({ description: 'replies rated down' }) feedback_down!: number;
  @ApiProperty() archived!: boolean;
}

export class MessageDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'per-session order of stored events' }) seq!: number;
  @ApiProperty({ example: 'user_message' }) type!: string;
  @ApiProperty({ enum: SENDERS }) sender!: string;
  @ApiPropertyOptional() client_id?: string;
  @ApiPropertyOptional({ description: 'decrypted text' }) content?: string;
  @ApiProperty({ format: 'date-time' }) timestamp!: string;
  @ApiPropertyOptional() model_id?: string;
  @ApiPropertyOptional() file_id?: string;
  @ApiPropertyOptional({ description: 'stable /chat/files/:file_id link (redirects to a signed URL)' })
  file_url?: string;
  @ApiPropertyOptional({ description: 'the reason given with a rating of this reply (decrypted)' })
  feedback_reason?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) metadata?: Record<string, unknown>;
}

export class SessionDetailDto extends SessionSummaryDto {
  @ApiProperty() user_id!: string;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'when the user deleted it (admins read deleted sessions too)',
  })
  deleted_at!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) end_time!: string | null;
  @ApiProperty({ description: 'so far, for an active session' }) duration_ms!: number;
  @ApiProperty({ format: 'date-time' }) last_activity!: string;
  @ApiProperty({ description: 'seq of the newest stored event' }) seq!: number;
  @ApiProperty() total_tokens!: number;
  @ApiProperty() prompt_tokens!: number;
  @ApiProperty() completion_tokens!: number;
  @ApiProperty() avg_response_ms!: number;
  @ApiProperty() max_response_ms!: number;
  @ApiProperty({ type: [MessageDto] }) messages!: MessageDto[];
}

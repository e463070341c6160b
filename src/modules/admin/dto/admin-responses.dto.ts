import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

// OpenAPI shapes of the admin API's answers (AdminService builds them).
export class TakeoverRecordDto {
  @ApiProperty() admin_id!: string;
  @ApiProperty({ type: String, nullable: true }) admin_name!: string | null;
  @ApiProperty({ format: 'date-time' }) start!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) end!: string | null;
}

export class AdminSessionItemDto {
  @ApiProperty() id!: string;
  @ApiProperty() user_id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() model_id!: string;
  @ApiProperty() is_active!: boolean;
  @ApiProperty({ format: 'date-time' }) start_time!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) end_time!: string | null;
  @ApiProperty() duration_ms!: number;
  @ApiProperty({ format: 'date-time' }) last_activity!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) last_message_at!: string | null;
  @ApiProperty() message_count!: number;
  @ApiProperty() total_tokens!: number;
  @ApiProperty() avg_response_ms!: number;
  @ApiProperty() max_response_ms!: number;
  @ApiProperty() help_requested!: boolean;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) help_requested_at!: string | null;
  @ApiProperty() admin_assisted!: boolean;
  @ApiProperty({ type: String, nullable: true }) assisting_admin_name!: string | null;
  @ApiProperty() takeover_in_progress!: boolean;
  @ApiProperty({ description: 'a help request no admin has answered yet' }) help_pending!: boolean;
  @ApiProperty({ description: 'replies rated up' }) feedback_up!: number;
  @ApiProperty({ description: 'replies rated down' }) feedback_down!: number;
  @ApiProperty() archived!: boolean;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'deleted by its user: hidden from them, kept here until retention',
  })
  deleted_at!: string | null;
  @ApiProperty({ type: [TakeoverRecordDto] }) takeovers!: TakeoverRecordDto[];
}

export class AdminSessionPageDto {
  @ApiProperty({ type: [AdminSessionItemDto] }) items!: AdminSessionItemDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
  @ApiProperty({
    format: 'date-time',
    description:
      'the time the list was read as of (the `as_of` asked for, or now): pass it back as `as_of` with the next pages',
  })
  as_of!: string;
}

export class CsatByAdminDto {
  @ApiProperty() admin_id!: string;
  @ApiProperty({ type: String, nullable: true }) admin_name!: string | null;
  @ApiProperty() count!: number;
  @ApiProperty({ description: 'average rating (1-5), two decimals' }) average!: number;
  @ApiProperty({ type: [Number], description: 'how many ratings of 1, 2, 3, 4, 5' }) distribution!: number[];
}

export class ModelMetricsDto {
  @ApiProperty() model_id!: string;
  @ApiProperty({ description: 'AI replies of this model' }) replies!: number;
  @ApiProperty({ description: 'replies rated up or down' }) rated!: number;
  @ApiProperty({ description: 'rated / replies (0 to 1, three decimals)' }) feedback_rate!: number;
  @ApiProperty() feedback_up!: number;
  @ApiProperty() feedback_down!: number;
  @ApiProperty({ description: 'replies that were regenerations of an earlier reply' })
  regenerations!: number;
}

export class AdminMetricsDto {
  @ApiProperty({ format: 'date-time' }) from!: string;
  @ApiProperty({ format: 'date-time' }) to!: string;
  @ApiProperty() total_sessions!: number;
  @ApiProperty() active_sessions!: number;
  @ApiProperty() avg_concurrent!: number;
  @ApiProperty() max_concurrent!: number;
  @ApiProperty() total_tokens!: number;
  @ApiProperty() avg_response_ms!: number;
  @ApiProperty() max_response_ms!: number;
  @ApiProperty() admin_assisted_count!: number;
  @ApiProperty() help_requests!: number;
  @ApiProperty() help_answered!: number;
  @ApiProperty() avg_help_response_ms!: number;
  @ApiProperty() max_help_response_ms!: number;
  @ApiProperty({ description: 'median help → join time of the requests answered (ms)' })
  p50_help_response_ms!: number;
  @ApiProperty({ description: '90th percentile help → join time of the requests answered (ms)' })
  p90_help_response_ms!: number;
  @ApiProperty({ description: 'replies rated up in the period' }) feedback_up!: number;
  @ApiProperty({ description: 'replies rated down in the period' }) feedback_down!: number;
  @ApiProperty({ type: [CsatByAdminDto], description: 'CSAT per admin of the sessions of the period' })
  csat!: CsatByAdminDto[];
  @ApiProperty({
    type: [ModelMetricsDto],
    description: 'AI replies of the sessions of the period, per model',
  })
  models!: ModelMetricsDto[];
}

// one slice of the period: the same figures, as a call for [from, to] alone answers them
export class AdminMetricsBucketDto extends AdminMetricsDto {}

export class AdminMetricsPageDto extends AdminMetricsDto {
  @ApiPropertyOptional({
    type: [AdminMetricsBucketDto],
    description: 'with `buckets=N`: the figures of N equal consecutive slices of the period',
  })
  buckets?: AdminMetricsBucketDto[];
}

import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsString, Max, Min } from 'class-validator';
import { DomainException } from '../../../common/errors/domain.exception';
import { ErrorCode } from '../../../common/errors/error-code';
import { Optional } from '../../../common/http/optional-field';
import { MaxCodePoints } from '../../../common/text-length';

export const SESSION_SORTS = ['start_time', 'duration', 'user_id', 'last_activity'] as const;
export type SessionSort = (typeof SESSION_SORTS)[number];
const BOOLEANS = ['true', 'false'] as const;
export const MAX_PAGE_SIZE = 100;

// GET /chat/admin/sessions query (CONTRACT §3), validated by the global ValidationPipe.
export class AdminSessionsQueryDto {
  @ApiPropertyOptional()
  @Optional()
  @IsString()
  @MaxCodePoints(256)
  user_id?: string;
  @ApiPropertyOptional({ enum: ['active', 'ended'] })
  @Optional()
  @IsIn(['active', 'ended'])
  status?: 'active' | 'ended';
  @ApiPropertyOptional({ enum: BOOLEANS }) @Optional() @IsIn(BOOLEANS) admin_assisted?: 'true' | 'false';
  @ApiPropertyOptional({ enum: BOOLEANS }) @Optional() @IsIn(BOOLEANS) help_requested?: 'true' | 'false';
  @ApiPropertyOptional({
    enum: ['negative', 'positive'],
    description: 'sessions with at least one reply rated down (negative) or up (positive)',
  })
  @Optional()
  @IsIn(['negative', 'positive'])
  feedback?: 'negative' | 'positive';
  @ApiPropertyOptional({ format: 'date-time', description: 'start of the period' })
  @Optional()
  @IsISO8601({ strict: true })
  from?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'end of the period' })
  @Optional()
  @IsISO8601({ strict: true })
  to?: string;
  @ApiPropertyOptional({
    format: 'date-time',
    description:
      'the list as it was at this time, for the pages after the first (pass back the `as_of` of the first page): sessions that started after it are left out and durations are as of it, so sessions arriving between page reads shift nothing',
  })
  @Optional()
  @IsISO8601({ strict: true })
  as_of?: string;
  @ApiPropertyOptional({ enum: SESSION_SORTS, default: 'start_time' })
  @Optional()
  @IsIn(SESSION_SORTS)
  sort?: SessionSort;
  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'desc' })
  @Optional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  page?: number;
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    default: 20,
    description: `sessions per page; more than ${MAX_PAGE_SIZE} is taken as ${MAX_PAGE_SIZE} (the answer's \`limit\` says so)`,
  })
  @Optional()
  @Type(() => Number)
  // The contract sets no most: a larger page is answered at the most, not refused. Until the
  // contract audit of session 42 limit=500 was 400 (docs/protocol.md, "Admin list pages").
  @Transform(({ value }: { value: unknown }) =>
    Number.isInteger(value) && (value as number) > MAX_PAGE_SIZE ? MAX_PAGE_SIZE : value,
  )
  @IsInt()
  @Min(1)
  limit?: number;
}

// GET /chat/admin/metrics query: the period, by default the last 30 days.
// the dashboard's charts slice a period in 12
export const MAX_METRICS_BUCKETS = 48;

export class AdminMetricsQueryDto {
  @ApiPropertyOptional({ format: 'date-time', description: 'default: 30 days before `to`' })
  @Optional()
  @IsISO8601({ strict: true })
  from?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'default: now' })
  @Optional()
  @IsISO8601({ strict: true })
  to?: string;
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_METRICS_BUCKETS,
    description: 'also the same figures for this many equal slices of the period (`buckets`), from one read',
  })
  @Optional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_METRICS_BUCKETS)
  buckets?: number;
}

export interface SessionFilter {
  userId?: string;
  active?: boolean;
  adminAssisted?: boolean;
  helpRequested?: boolean;
  feedback?: 'negative' | 'positive';
  from?: Date;
  to?: Date;
  // a list read as of this time: sessions that started after it are left out
  asOf?: Date;
}

export interface SessionListQuery {
  filter: SessionFilter;
  sort: SessionSort;
  order: 'asc' | 'desc';
  page: number;
  limit: number;
}

const DAY_MS = 86_400_000;

// The validated DTO as the repository takes it; from must not be after to.
export function toListQuery(dto: AdminSessionsQueryDto): SessionListQuery {
  const { from, to } = period(dto.from, dto.to, false);
  const asOf = dto.as_of === undefined ? undefined : new Date(dto.as_of);
  if (asOf && Number.isNaN(asOf.getTime()))
    throw new DomainException(ErrorCode.INVALID_MESSAGE, '"as_of" is not a valid date.');
  return {
    filter: {
      userId: dto.user_id,
      active: dto.status === undefined ? undefined : dto.status === 'active',
      adminAssisted: dto.admin_assisted === undefined ? undefined : dto.admin_assisted === 'true',
      helpRequested: dto.help_requested === undefined ? undefined : dto.help_requested === 'true',
      feedback: dto.feedback,
      from,
      to,
      asOf,
    },
    sort: dto.sort ?? 'start_time',
    order: dto.order ?? 'desc',
    page: dto.page ?? 1,
    limit: dto.limit ?? 20,
  };
}

export function toMetricsPeriod(dto: AdminMetricsQueryDto, now = new Date()): { from: Date; to: Date } {
  const { from, to } = period(dto.from, dto.to, true, now);
  return { from: from as Date, to: to as Date };
}

function period(
  fromText: string | undefined,
  toText: string | undefined,
  withDefaults: boolean,
  now = new Date(),
): { from?: Date; to?: Date } {
  let to = toText === undefined ? undefined : new Date(toText);
  let from = fromText === undefined ? undefined : new Date(fromText);
  if (withDefaults) {
    to ??= now;
    from ??= new Date(to.getTime() - 30 * DAY_MS);
  }
  for (const [name, value] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (value !== undefined && Number.isNaN(value.getTime()))
      throw new DomainException(ErrorCode.INVALID_MESSAGE, `"${name}" is not a valid date.`);
  }
  if (from && to && from.getTime() > to.getTime())
    throw new DomainException(ErrorCode.INVALID_MESSAGE, '"from" must not be after "to".');
  return { from, to };
}

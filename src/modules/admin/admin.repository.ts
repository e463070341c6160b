import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { FilterQuery, Model } from 'mongoose';
import { Session } from '../sessions/schemas/session.schema';
import type { Interval } from './concurrency';
import type { SessionFilter, SessionListQuery, SessionSort } from './dto/admin-query.dto';

// One row of the admin list: the session without its messages.
export interface AdminSessionRow {
  _id: string;
  user_id: string;
  name: string;
  model_id: string;
  is_active: boolean;
  start_time: Date;
  end_time: Date | null;
  duration_ms: number | null;
  last_activity: Date;
  last_message_at: Date | null;
  message_count: number;
  total_tokens: number;
  response_count: number;
  response_ms_total: number;
  max_response_ms: number;
  help_requested: boolean;
  help_requested_at: Date | null;
  admin_assisted: boolean;
  assisting_admin_id: string | null;
  assisting_admin_name: string | null;
  takeovers?: Array<{ admin_id: string; admin_name?: string; start: Date; end?: Date }>;
}

export interface PeriodTotals {
  sessions: number;
  tokens: number;
  responses: number;
  responseMsTotal: number;
  helpAnswered: number;
  helpResponseMsTotal: number;
}

const ROW_FIELDS = {
  user_id: 1,
  name: 1,
  model_id: 1,
  is_active: 1,
  start_time: 1,
  end_time: 1,
  duration_ms: 1,
  last_activity: 1,
  last_message_at: 1,
  message_count: 1,
  total_tokens: 1,
  response_count: 1,
  response_ms_total: 1,
  max_response_ms: 1,
  help_requested: 1,
  help_requested_at: 1,
  admin_assisted: 1,
  assisting_admin_id: 1,
  assisting_admin_name: 1,
  takeovers: 1,
} as const;

const SORT_FIELDS: Record<SessionSort, string> = {
  start_time: 'start_time',
  duration: 'duration_ms',
  user_id: 'user_id',
  last_activity: 'last_activity',
};

// Admin reads over every user's sessions (an explicit admin repository: no owner id by design).
// Only what both MongoDB 7 and FerretDB run: plain filters, indexed sorts, $group with one $sum;
// maxima come from a sorted limit-1 read, concurrency from a sweep in code over projected intervals.
@Injectable()
export class AdminRepository {
  constructor(@InjectModel(Session.name) private readonly sessions: Model<Session>) {}

  async list(query: SessionListQuery): Promise<{ rows: AdminSessionRow[]; total: number }> {
    const filter = toMongoFilter(query.filter);
    const direction = query.order === 'asc' ? 1 : -1;
    // _id breaks ties so pages never overlap or skip
    const sort: Record<string, 1 | -1> = { [SORT_FIELDS[query.sort]]: direction, _id: direction };
    const [rows, total] = await Promise.all([
      this.sessions
        .find(filter, ROW_FIELDS)
        .sort(sort)
        .skip((query.page - 1) * query.limit)
        .limit(query.limit)
        .lean<AdminSessionRow[]>(),
      this.sessions.countDocuments(filter),
    ]);
    return { rows, total };
  }

  async activeCount(): Promise<number> {
    return this.sessions.countDocuments({ is_active: true });
  }

  // Sums over sessions that started in [from, to]. One accumulator per $group: FerretDB 1.24
  // computes only the first accumulator of a $group (the others come back 0), so each sum is its own
  // pipeline; they run in parallel.
  async totals(from: Date, to: Date): Promise<PeriodTotals> {
    const match = { $match: { start_time: { $gte: from, $lte: to } } };
    const sum = async (value: 1 | string): Promise<number> => {
      const [row] = await this.sessions.aggregate<{ total: number }>([
        match,
        { $group: { _id: null, total: { $sum: value } } },
      ]);
      return row?.total ?? 0;
    };
    const [sessions, tokens, responses, responseMsTotal, helpAnswered, helpResponseMsTotal] =
      await Promise.all([
        sum(1),
        sum('$total_tokens'),
        sum('$response_count'),
        sum('$response_ms_total'),
        sum('$help_response_count'),
        sum('$help_response_ms_total'),
      ]);
    return { sessions, tokens, responses, responseMsTotal, helpAnswered, helpResponseMsTotal };
  }

  async countIn(from: Date, to: Date, extra: FilterQuery<Session>): Promise<number> {
    return this.sessions.countDocuments({ start_time: { $gte: from, $lte: to }, ...extra });
  }

  // Largest value of a numeric field among sessions that started in [from, to].
  async maxIn(from: Date, to: Date, field: 'max_response_ms' | 'help_response_ms_max'): Promise<number> {
    const [top] = await this.sessions
      .find({ start_time: { $gte: from, $lte: to }, [field]: { $gt: 0 } }, { [field]: 1 })
      .sort({ [field]: -1 })
      .limit(1)
      .lean<Array<Record<string, number>>>();
    return top?.[field] ?? 0;
  }

  // [start, end) of every session open at some moment of [from, to]; active ones end `now`.
  async intervals(from: Date, to: Date, now: Date): Promise<Interval[]> {
    const [ended, active] = await Promise.all([
      this.sessions
        .find(
          { is_active: false, start_time: { $lte: to }, end_time: { $gte: from } },
          { _id: 0, start_time: 1, end_time: 1 },
        )
        .lean<Array<{ start_time: Date; end_time: Date }>>(),
      this.sessions
        .find({ is_active: true, start_time: { $lte: to } }, { _id: 0, start_time: 1 })
        .lean<Array<{ start_time: Date }>>(),
    ]);
    const intervals: Interval[] = ended.map((row) => ({
      start: new Date(row.start_time).getTime(),
      end: new Date(row.end_time).getTime(),
    }));
    for (const row of active)
      intervals.push({ start: new Date(row.start_time).getTime(), end: now.getTime() });
    return intervals;
  }
}

function toMongoFilter(filter: SessionFilter): FilterQuery<Session> {
  const query: FilterQuery<Session> = {};
  if (filter.userId !== undefined) query.user_id = filter.userId;
  if (filter.active !== undefined) query.is_active = filter.active;
  if (filter.adminAssisted !== undefined) query.admin_assisted = filter.adminAssisted;
  if (filter.helpRequested !== undefined) query.help_requested = filter.helpRequested;
  if (filter.from || filter.to) {
    const range: Record<string, Date> = {};
    if (filter.from) range.$gte = filter.from;
    if (filter.to) range.$lte = filter.to;
    query.start_time = range;
  }
  return query;
}

import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { FilterQuery, Model } from 'mongoose';
import { Session } from '../sessions/schemas/session.schema';
import { OPEN_FIELDS, PERIOD_FIELDS, type PeriodDocument, type PeriodRow, toPeriodRow } from './admin-period';
import type { SessionFilter, SessionListQuery, SessionSort } from './dto/admin-query.dto';

// sort=duration reads two sources: sessions with a stored duration_ms (ended) and those without
// (active: their duration is live, now − start_time).
export type DurationSource = 'stored' | 'live';
const DURATION_SOURCES: Record<DurationSource, FilterQuery<Session>> = {
  stored: { duration_ms: { $ne: null } },
  live: { duration_ms: null },
};

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
  resumed_at?: Date;
  open_ms_before?: number;
  last_activity: Date;
  last_message_at: Date | null;
  message_count: number;
  total_tokens: number;
  response_count: number;
  response_ms_total: number;
  max_response_ms: number;
  help_requested: boolean;
  help_requested_at: Date | null;
  help_pending?: boolean;
  admin_assisted: boolean;
  assisting_admin_id: string | null;
  assisting_admin_name: string | null;
  feedback_up?: number;
  feedback_down?: number;
  archived?: boolean;
  deleted_at?: Date | null;
  takeovers?: Array<{ admin_id: string; admin_name?: string; start: Date; end?: Date }>;
}

const ROW_FIELDS = {
  user_id: 1,
  name: 1,
  model_id: 1,
  is_active: 1,
  start_time: 1,
  end_time: 1,
  duration_ms: 1,
  resumed_at: 1,
  open_ms_before: 1,
  last_activity: 1,
  last_message_at: 1,
  message_count: 1,
  total_tokens: 1,
  response_count: 1,
  response_ms_total: 1,
  max_response_ms: 1,
  help_requested: 1,
  help_requested_at: 1,
  help_pending: 1,
  admin_assisted: 1,
  assisting_admin_id: 1,
  assisting_admin_name: 1,
  feedback_up: 1,
  feedback_down: 1,
  archived: 1,
  deleted_at: 1,
  takeovers: 1,
} as const;

// The session an admin's dashboard socket is bound to (it needs one to connect) is no conversation:
// left out of the list and every figure (issue 15).
const NOT_CONSOLE: FilterQuery<Session> = { console: { $ne: true } };

const SORT_FIELDS: Record<SessionSort, string> = {
  start_time: 'start_time',
  // only for ended sessions; the service merges them with active ones (listByDuration)
  duration: 'duration_ms',
  user_id: 'user_id',
  last_activity: 'last_activity',
};

// Admin reads over every user's sessions (an explicit admin repository: no owner id by design).
// Only plain filters and indexed sorts, which MongoDB 7 and FerretDB both run; sums, maxima and
// concurrency are computed in code from projected rows.
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
      this.count(filter),
    ]);
    return { rows, total };
  }

  // The `count` command, not countDocuments (an aggregation), and the dashboards' sessions taken away
  // rather than filtered out: FerretDB's build answers both counts in SQL from the indexes alone
  // (scripts/tools/ferretdb/pushdown-sessions.patch), where `console: {$ne: true}` made it read every
  // session's document (1.4 s at 100k); MongoDB counts from the same indexes either way. The two
  // counts are not one snapshot: a dashboard's session opened between them is off by one, once.
  private async count(filter: FilterQuery<Session>): Promise<number> {
    const { console: _notConsole, ...conversations } = filter;
    const [all, consoles] = await Promise.all([
      this.countCommand(conversations),
      this.countCommand({ ...conversations, console: true }),
    ]);
    return all - consoles;
  }

  private async countCommand(query: FilterQuery<Session>): Promise<number> {
    const counted = (await this.sessions.db.db!.command({
      count: this.sessions.collection.collectionName,
      query,
    })) as { n: number };
    return counted.n;
  }

  async countByDurationSource(filter: SessionFilter): Promise<Record<DurationSource, number>> {
    const base = toMongoFilter(filter);
    const [stored, live] = await Promise.all([
      this.count({ ...base, ...DURATION_SOURCES.stored }),
      this.count({ ...base, ...DURATION_SOURCES.live }),
    ]);
    return { stored, live };
  }

  // One source's rows in sort=duration order (compareByDuration), each on an index: stored durations
  // by duration_ms; live ones by start_time reversed (an earlier start is a longer duration so far),
  // after {is_active} so that an ended session without a duration (none is written so) sorts lowest.
  async listByDuration(
    filter: SessionFilter,
    source: DurationSource,
    order: 'asc' | 'desc',
    skip: number,
    limit: number,
  ): Promise<AdminSessionRow[]> {
    const direction = order === 'asc' ? 1 : -1;
    const reverse = order === 'asc' ? -1 : 1;
    const sort: Record<string, 1 | -1> =
      source === 'stored'
        ? { duration_ms: direction, _id: direction }
        : { is_active: direction, start_time: reverse, _id: direction };
    return this.sessions
      .find({ ...toMongoFilter(filter), ...DURATION_SOURCES[source] }, ROW_FIELDS)
      .sort(sort)
      .skip(skip)
      .limit(limit)
      .lean<AdminSessionRow[]>();
  }

  async activeCount(): Promise<number> {
    return this.count({ is_active: true, ...NOT_CONSOLE });
  }

  // What the metrics need from the sessions of a period: those that started in [from, to] with
  // their numbers, and the earlier ones still open at `from` (for concurrency only). Two reads, summed
  // in code: MongoDB answers both from indexes (start_time; end_time / is_active), and FerretDB, which
  // scans for anything but an _id lookup and computes only the first accumulator of a $group, does
  // two scans instead of one per figure.
  async period(from: Date, to: Date): Promise<{ started: PeriodRow[]; before: PeriodRow[] }> {
    const [started, before] = await Promise.all([
      this.sessions
        .find({ start_time: { $gte: from, $lte: to }, ...NOT_CONSOLE }, PERIOD_FIELDS)
        .lean<PeriodDocument[]>(),
      this.sessions
        .find(
          {
            start_time: { $lt: from },
            $or: [{ end_time: { $gte: from } }, { is_active: true }],
            ...NOT_CONSOLE,
          },
          OPEN_FIELDS,
        )
        .lean<PeriodDocument[]>(),
    ]);
    return { started: started.map(toPeriodRow), before: before.map(toPeriodRow) };
  }
}

function toMongoFilter(filter: SessionFilter): FilterQuery<Session> {
  const query: FilterQuery<Session> = { ...NOT_CONSOLE };
  if (filter.userId !== undefined) query.user_id = filter.userId;
  // as of a time, a session was active when it had not ended by then: one that ended between two
  // page reads stays on the active pages (until an admin audit in session 40 it left them and
  // shifted the later ones, a session active as of the first page on none; admin.e2e-spec.ts)
  if (filter.active !== undefined && filter.asOf === undefined) query.is_active = filter.active;
  else if (filter.active === true) query.$or = [{ is_active: true }, { end_time: { $gt: filter.asOf } }];
  else if (filter.active === false) {
    query.is_active = false;
    query.end_time = { $lte: filter.asOf };
  }
  if (filter.adminAssisted !== undefined) query.admin_assisted = filter.adminAssisted;
  if (filter.helpRequested !== undefined) query.help_requested = filter.helpRequested;
  if (filter.feedback === 'negative') query.feedback_down = { $gt: 0 };
  if (filter.feedback === 'positive') query.feedback_up = { $gt: 0 };
  // a list read as of a time leaves out what started after it, as `to` does
  const to = earliest(filter.to, filter.asOf);
  if (filter.from || to) {
    const range: Record<string, Date> = {};
    if (filter.from) range.$gte = filter.from;
    if (to) range.$lte = to;
    query.start_time = range;
  }
  return query;
}

function earliest(...dates: Array<Date | undefined>): Date | undefined {
  let found: Date | undefined;
  for (const date of dates) if (date && (!found || date < found)) found = date;
  return found;
}

import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { durationAsOf, helpWaiting } from '../sessions/session-rules';
import { ConcurrencyLimit } from '../../common/concurrency-limit';
import type { PeriodRow } from './admin-period';
import { AdminRepository, type AdminSessionRow } from './admin.repository';
import { concurrency } from './concurrency';
import type { SessionListQuery } from './dto/admin-query.dto';
import { compareByDuration, mergeSorted } from './duration-order';

const METRICS_READS_AT_ONCE = 2;
const METRICS_READS_WAITING = 32;
// sort=duration holds at most this many rows of the smaller source in memory (see listByDuration)
export const MAX_DURATION_ROWS_HELD = 10_000;

// The admin dashboard's reads (CONTRACT §3): every user's sessions and the service's metrics.
@Injectable()
export class AdminService {
  private readonly periodReads = new ConcurrencyLimit(METRICS_READS_AT_ONCE, METRICS_READS_WAITING);

  constructor(private readonly repository: AdminRepository) {}

  // `as_of`: the time the list is read as of, given (never later than now) or now; the next pages
  // pass it back, and are read as of the same time (docs/protocol.md, "Admin list pages")
  async list(query: SessionListQuery, now = new Date()) {
    const given = query.filter.asOf;
    const asOf = given && given < now ? given : now;
    const pinned = given ? { ...query, filter: { ...query.filter, asOf } } : query;
    const { rows, total } =
      query.sort === 'duration'
        ? await this.listByDuration(pinned, asOf)
        : await this.repository.list(pinned);
    return {
      items: rows.map((row) => adminItem(row, asOf)),
      total,
      page: query.page,
      limit: query.limit,
      as_of: asOf.toISOString(),
    };
  }

  // No single index orders sessions by their duration as of now: ended ones have a stored duration_ms,
  // active ones a live one (now − start_time), so each source is read in its own indexed order and the
  // two are merged here. The smaller source (usually the active sessions) is read up to the page's end
  // (offset + limit rows, held in memory); of the other, the database skips what cannot reach the page
  // (offset − rows held: before them, at most that many rows of the smaller source) and returns
  // limit + rows held. Cost per page: two counts, the database's skip, at most
  // 2 × MAX_DURATION_ROWS_HELD + limit rows read; deeper pages, possible only when both sources
  // outnumber the bound, are refused.
  private async listByDuration(query: SessionListQuery, now: Date) {
    const counts = await this.repository.countByDurationSource(query.filter);
    const offset = (query.page - 1) * query.limit;
    const end = offset + query.limit;
    const [held, other] =
      counts.live <= counts.stored ? (['live', 'stored'] as const) : (['stored', 'live'] as const);
    const heldCount = Math.min(counts[held], end);
    if (heldCount > MAX_DURATION_ROWS_HELD) {
      throw new DomainException(
        ErrorCode.INVALID_MESSAGE,
        `"page" is too deep for sort=duration: only its first ${MAX_DURATION_ROWS_HELD} items can be listed; narrow the filters.`,
      );
    }
    const skip = Math.max(0, offset - heldCount);
    const [heldRows, otherRows] = await Promise.all([
      heldCount > 0 ? this.repository.listByDuration(query.filter, held, query.order, 0, heldCount) : [],
      this.repository.listByDuration(query.filter, other, query.order, skip, end - skip),
    ]);
    // from the other source's first row on, merged rows sit at skip + their index; held rows before
    // it (at most heldCount = offset − skip of them) all come before the page
    const merged = mergeSorted(heldRows, otherRows, compareByDuration(query.order, now));
    return { rows: merged.slice(offset - skip, end - skip), total: counts.stored + counts.live };
  }

  // Totals, tokens and response times over sessions that started in [from, to]; concurrency over
  // every session open at some moment of it (active ones until now); active_sessions is now. With
  // `buckets`, the same for that many equal slices of the period, from the same read (the dashboard's
  // charts made one call per slice: thirteen reads of the period's every session per refresh).
  async metrics(
    from: Date,
    to: Date,
    now = new Date(),
    options: { buckets?: number } = {},
  ): Promise<Metrics & { buckets?: Metrics[] }> {
    // a period's read holds every session that started in it (at 20,000 sessions of 40 messages on
    // FerretDB, 37 s and ~1.5 GB for 13 at once): two at a time on an instance, later ones wait
    const read = await this.periodReads.run(() =>
      Promise.all([this.repository.period(from, to), this.repository.activeCount()]),
    );
    if (!read)
      throw new DomainException(ErrorCode.RATE_LIMITED, 'Too many metrics reads at once; retry shortly.', {
        retryAfterMs: 2000,
      });
    const [{ started, before }, active] = read.value;
    const whole = summarize(started, before, active, from, to, now);
    if (!options.buckets) return whole;
    const count = options.buckets;
    const span = to.getTime() - from.getTime();
    const all = [...started, ...before];
    const buckets = Array.from({ length: count }, (_, index) => {
      // the edges a call per slice would have (Date truncates to the millisecond)
      const sliceFrom = new Date(from.getTime() + (span * index) / count);
      const sliceTo = new Date(from.getTime() + (span * (index + 1)) / count);
      const [start, end] = [sliceFrom.getTime(), sliceTo.getTime()];
      return summarize(
        started.filter((row) => row.start >= start && row.start <= end),
        all.filter((row) => row.start < start && (row.end === null || row.end >= start)),
        active,
        sliceFrom,
        sliceTo,
        now,
      );
    });
    return { ...whole, buckets };
  }
}

type Metrics = ReturnType<typeof summarize>;

// The metrics of [from, to] from its sessions: `started` in it, `before` it and open at `from`.
function summarize(
  started: PeriodRow[],
  before: PeriodRow[],
  active: number,
  from: Date,
  to: Date,
  now: Date,
) {
  const sums = { tokens: 0, responses: 0, responseMs: 0, maxResponse: 0, assisted: 0, help: 0 };
  const help = { answered: 0, totalMs: 0, maxMs: 0 };
  const feedback = { up: 0, down: 0 };
  const helpTimes: number[] = [];
  const models = new Map<string, { replies: number; up: number; down: number; regenerations: number }>();
  const csat = new Map<
    string,
    { admin_name: string | null; count: number; sum: number; distribution: number[] }
  >();
  for (const row of started) {
    sums.tokens += row.tokens;
    sums.responses += row.responses;
    sums.responseMs += row.responseMsTotal;
    sums.maxResponse = Math.max(sums.maxResponse, row.maxResponseMs);
    if (row.assisted) sums.assisted++;
    if (row.helpRequested) sums.help++;
    help.answered += row.helpAnswered;
    help.totalMs += row.helpResponseMsTotal;
    help.maxMs = Math.max(help.maxMs, row.helpResponseMsMax);
    feedback.up += row.feedbackUp;
    feedback.down += row.feedbackDown;
    helpTimes.push(...row.helpResponseTimes);
    for (const reply of row.replies) {
      const entry = models.get(reply.model) ?? { replies: 0, up: 0, down: 0, regenerations: 0 };
      entry.replies++;
      if (reply.feedback === 'up') entry.up++;
      if (reply.feedback === 'down') entry.down++;
      if (reply.regenerated) entry.regenerations++;
      models.set(reply.model, entry);
    }
    for (const rated of row.csat) {
      const entry = csat.get(rated.admin_id) ?? {
        admin_name: rated.admin_name ?? null,
        count: 0,
        sum: 0,
        distribution: [0, 0, 0, 0, 0],
      };
      entry.count++;
      entry.sum += rated.rating;
      entry.distribution[rated.rating - 1]++;
      csat.set(rated.admin_id, entry);
    }
  }
  const end = Math.min(to.getTime(), now.getTime());
  // every period each session was open: a resumed one is closed over its gaps (docs/protocol.md,
  // "Resumed sessions")
  const intervals = [...started, ...before].flatMap((row) =>
    row.open.map((period) => ({ start: period.start, end: period.end ?? now.getTime() })),
  );
  const { avg, max } = concurrency(intervals, from.getTime(), end);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    total_sessions: started.length,
    active_sessions: active,
    avg_concurrent: Math.round(avg * 1000) / 1000,
    max_concurrent: max,
    total_tokens: sums.tokens,
    avg_response_ms: sums.responses > 0 ? Math.round(sums.responseMs / sums.responses) : 0,
    max_response_ms: sums.maxResponse,
    admin_assisted_count: sums.assisted,
    help_requests: sums.help,
    help_answered: help.answered,
    avg_help_response_ms: help.answered > 0 ? Math.round(help.totalMs / help.answered) : 0,
    max_help_response_ms: help.maxMs,
    // help → join time of each request answered in these sessions (sessions from before the
    // per-request times were stored count in the average and maximum only)
    p50_help_response_ms: percentile(helpTimes, 50),
    p90_help_response_ms: percentile(helpTimes, 90),
    feedback_up: feedback.up,
    feedback_down: feedback.down,
    // CSAT per admin of the sessions that started in the period: average and counts of 1..5
    csat: [...csat].map(([adminId, entry]) => ({
      admin_id: adminId,
      admin_name: entry.admin_name,
      count: entry.count,
      average: Math.round((entry.sum / entry.count) * 100) / 100,
      distribution: entry.distribution,
    })),
    // AI replies per model: rated share, ratings, and regenerated replies
    models: [...models]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([modelId, entry]) => ({
        model_id: modelId,
        replies: entry.replies,
        rated: entry.up + entry.down,
        feedback_rate:
          entry.replies > 0 ? Math.round(((entry.up + entry.down) / entry.replies) * 1000) / 1000 : 0,
        feedback_up: entry.up,
        feedback_down: entry.down,
        regenerations: entry.regenerations,
      })),
  };
}

// Nearest-rank percentile (an observed value, never interpolated); 0 when there is none.
export function percentile(values: number[], rank: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((rank / 100) * sorted.length) - 1)];
}

// One list item: the session summary plus what admins see (CONTRACT §3).
export function adminItem(row: AdminSessionRow, now: Date) {
  const start = new Date(row.start_time);
  return {
    id: row._id,
    user_id: row.user_id,
    name: row.name,
    model_id: row.model_id,
    is_active: row.is_active,
    start_time: start.toISOString(),
    end_time: row.end_time ? new Date(row.end_time).toISOString() : null,
    // an active session's duration so far
    duration_ms: durationAsOf(row, now),
    last_activity: new Date(row.last_activity).toISOString(),
    last_message_at: row.last_message_at ? new Date(row.last_message_at).toISOString() : null,
    message_count: row.message_count ?? 0,
    total_tokens: row.total_tokens ?? 0,
    avg_response_ms: row.response_count > 0 ? Math.round(row.response_ms_total / row.response_count) : 0,
    max_response_ms: row.max_response_ms ?? 0,
    help_requested: row.help_requested ?? false,
    help_requested_at: row.help_requested_at ? new Date(row.help_requested_at).toISOString() : null,
    // help_requested stays true once asked; this is whether a request still waits for an admin
    help_pending: helpWaiting(row),
    admin_assisted: row.admin_assisted ?? false,
    assisting_admin_name: row.assisting_admin_name ?? null,
    takeover_in_progress: row.assisting_admin_id != null,
    feedback_up: row.feedback_up ?? 0,
    feedback_down: row.feedback_down ?? 0,
    archived: row.archived ?? false,
    // deleted by its user: hidden from them, kept here until retention
    deleted_at: row.deleted_at ? new Date(row.deleted_at).toISOString() : null,
    takeovers: (row.takeovers ?? []).map((takeover) => ({
      admin_id: takeover.admin_id,
      admin_name: takeover.admin_name ?? null,
      start: new Date(takeover.start).toISOString(),
      end: takeover.end ? new Date(takeover.end).toISOString() : null,
    })),
  };
}

import { Injectable } from '@nestjs/common';
import { AdminRepository, type AdminSessionRow } from './admin.repository';
import { concurrency } from './concurrency';
import type { SessionListQuery } from './dto/admin-query.dto';

// The admin dashboard's reads (CONTRACT §3): every user's sessions and the service's metrics.
@Injectable()
export class AdminService {
  constructor(private readonly repository: AdminRepository) {}

  async list(query: SessionListQuery, now = new Date()) {
    const { rows, total } = await this.repository.list(query);
    return { items: rows.map((row) => adminItem(row, now)), total, page: query.page, limit: query.limit };
  }

  // Totals, tokens and response times over sessions that started in [from, to]; concurrency over
  // every session open at some moment of it; active_sessions is now.
  async metrics(from: Date, to: Date, now = new Date()) {
    const [totals, active, assisted, helpRequests, maxResponse, maxHelp, intervals] = await Promise.all([
      this.repository.totals(from, to),
      this.repository.activeCount(),
      this.repository.countIn(from, to, { admin_assisted: true }),
      this.repository.countIn(from, to, { help_requested: true }),
      this.repository.maxIn(from, to, 'max_response_ms'),
      this.repository.maxIn(from, to, 'help_response_ms_max'),
      this.repository.intervals(from, to, now),
    ]);
    const { avg, max } = concurrency(intervals, from.getTime(), Math.min(to.getTime(), now.getTime()));
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      total_sessions: totals.sessions,
      active_sessions: active,
      avg_concurrent: Math.round(avg * 1000) / 1000,
      max_concurrent: max,
      total_tokens: totals.tokens,
      avg_response_ms: totals.responses > 0 ? Math.round(totals.responseMsTotal / totals.responses) : 0,
      max_response_ms: maxResponse,
      admin_assisted_count: assisted,
      help_requests: helpRequests,
      help_answered: totals.helpAnswered,
      avg_help_response_ms:
        totals.helpAnswered > 0 ? Math.round(totals.helpResponseMsTotal / totals.helpAnswered) : 0,
      max_help_response_ms: maxHelp,
    };
  }
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
    duration_ms: row.duration_ms ?? (row.is_active ? Math.max(0, now.getTime() - start.getTime()) : null),
    last_activity: new Date(row.last_activity).toISOString(),
    last_message_at: row.last_message_at ? new Date(row.last_message_at).toISOString() : null,
    message_count: row.message_count ?? 0,
    total_tokens: row.total_tokens ?? 0,
    avg_response_ms: row.response_count > 0 ? Math.round(row.response_ms_total / row.response_count) : 0,
    max_response_ms: row.max_response_ms ?? 0,
    help_requested: row.help_requested ?? false,
    help_requested_at: row.help_requested_at ? new Date(row.help_requested_at).toISOString() : null,
    admin_assisted: row.admin_assisted ?? false,
    assisting_admin_name: row.assisting_admin_name ?? null,
    takeover_in_progress: row.assisting_admin_id != null,
    takeovers: (row.takeovers ?? []).map((takeover) => ({
      admin_id: takeover.admin_id,
      admin_name: takeover.admin_name ?? null,
      start: new Date(takeover.start).toISOString(),
      end: takeover.end ? new Date(takeover.end).toISOString() : null,
    })),
  };
}

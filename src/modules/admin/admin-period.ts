import type { Session } from '../sessions/schemas/session.schema';
import { openedAt } from '../sessions/session-rules';

// The metrics' read of a period's sessions (AdminRepository.period): the fields it projects and the
// row each session becomes.

// One session as the metrics see it; `end` null while it is active. `open`: the periods it was open,
// for the concurrency (one from start to end unless it was resumed: docs/protocol.md, "Resumed
// sessions"), the last one's end null while it is active.
export interface PeriodRow {
  start: number;
  end: number | null;
  open: Array<{ start: number; end: number | null }>;
  tokens: number;
  responses: number;
  responseMsTotal: number;
  maxResponseMs: number;
  assisted: boolean;
  helpRequested: boolean;
  helpAnswered: number;
  helpResponseMsTotal: number;
  helpResponseMsMax: number;
  // each answered help request's time, where stored (sessions before it have only the totals)
  helpResponseTimes: number[];
  feedbackUp: number;
  feedbackDown: number;
  csat: Array<{ admin_id: string; admin_name?: string; rating: number }>;
  // the session's AI replies: their model, rating and whether they were regenerated
  replies: Array<{ model: string; feedback?: 'up' | 'down'; regenerated: boolean }>;
}

export type PeriodDocument = Partial<
  Pick<
    Session,
    | 'start_time'
    | 'end_time'
    | 'is_active'
    | 'resumed_at'
    | 'open_periods'
    | 'total_tokens'
    | 'response_count'
    | 'response_ms_total'
    | 'max_response_ms'
    | 'admin_assisted'
    | 'help_requested'
    | 'help_response_count'
    | 'help_response_ms_total'
    | 'help_response_ms_max'
    | 'help_response_ms'
    | 'model_id'
    | 'messages'
    | 'feedback_up'
    | 'feedback_down'
    | 'csat'
  >
>;

// what the concurrency reads of a session (the earlier sessions' read reads only these)
export const OPEN_FIELDS = {
  _id: 0,
  start_time: 1,
  end_time: 1,
  is_active: 1,
  resumed_at: 1,
  open_periods: 1,
} as const;

export const PERIOD_FIELDS = {
  ...OPEN_FIELDS,
  total_tokens: 1,
  response_count: 1,
  response_ms_total: 1,
  max_response_ms: 1,
  admin_assisted: 1,
  help_requested: 1,
  help_response_count: 1,
  help_response_ms_total: 1,
  help_response_ms_max: 1,
  help_response_ms: 1,
  feedback_up: 1,
  feedback_down: 1,
  csat: 1,
  // per-model figures: only these fields of each message (no content)
  model_id: 1,
  'messages.type': 1,
  'messages.model_id': 1,
  'messages.metadata.feedback': 1,
  'messages.metadata.alternative_of': 1,
} as const;

export function toPeriodRow(document: PeriodDocument): PeriodRow {
  const start = new Date(document.start_time as Date).getTime();
  const end = document.is_active || !document.end_time ? null : new Date(document.end_time).getTime();
  const last = openedAt({ start_time: document.start_time as Date, resumed_at: document.resumed_at });
  return {
    start,
    end,
    // the periods folded out of open_periods (MAX_OPEN_PERIODS) count as closed
    open: [
      ...(document.open_periods ?? []).map((period) => ({
        start: new Date(period.start).getTime(),
        end: new Date(period.end).getTime(),
      })),
      { start: last.getTime(), end },
    ],
    tokens: document.total_tokens ?? 0,
    responses: document.response_count ?? 0,
    responseMsTotal: document.response_ms_total ?? 0,
    maxResponseMs: document.max_response_ms ?? 0,
    assisted: document.admin_assisted === true,
    helpRequested: document.help_requested === true,
    helpAnswered: document.help_response_count ?? 0,
    helpResponseMsTotal: document.help_response_ms_total ?? 0,
    helpResponseMsMax: document.help_response_ms_max ?? 0,
    helpResponseTimes: document.help_response_ms ?? [],
    feedbackUp: document.feedback_up ?? 0,
    feedbackDown: document.feedback_down ?? 0,
    csat: (document.csat ?? []).map((entry) => ({
      admin_id: entry.admin_id,
      admin_name: entry.admin_name,
      rating: entry.rating,
    })),
    replies: (document.messages ?? [])
      .filter((message) => message.type === 'ai_response')
      .map((message) => {
        const feedback = message.metadata?.feedback;
        return {
          model: message.model_id ?? document.model_id ?? 'unknown',
          feedback: feedback === 'up' || feedback === 'down' ? feedback : undefined,
          regenerated: typeof message.metadata?.alternative_of === 'string',
        };
      }),
  };
}

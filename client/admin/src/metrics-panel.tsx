import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../../shared/api';
import { errorText } from '../../shared/errors';
import { milliseconds } from '../../shared/format';
import { metrics, type Metrics } from './admin-api';
import { TimeChart } from './charts';
import { loadMetrics, SingleFlight, type MetricsView } from './metrics-loader';

const PERIODS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 } as const;
type Period = keyof typeof PERIODS;
const BUCKETS = 12;

interface Buckets {
  labels: string[];
  values: Metrics[];
}

// Totals for the chosen period, and the same metrics per twelfth of it for the charts (one
// /chat/admin/metrics call with buckets=12; metrics-loader.ts).
export function MetricsPanel({ token, refreshKey }: { token: string; refreshKey: number }) {
  const [period, setPeriod] = useState<Period>('24h');
  const [total, setTotal] = useState<Metrics | null>(null);
  const [buckets, setBuckets] = useState<Buckets>({ labels: [], values: [] });
  const [error, setError] = useState<string | null>(null);

  const flight = useMemo(() => new SingleFlight<MetricsView>(), []);
  useEffect(() => () => flight.cancel(), [flight]);
  useEffect(() => {
    const to = new Date();
    const span = PERIODS[period];
    const from = new Date(to.getTime() - span);
    // a tick while this period's load runs is skipped; another period drops it
    flight.run(
      `${period} ${token}`,
      (signal) =>
        loadMetrics((start, end, count) => metrics(token, start, end, count, signal), from, to, BUCKETS),
      (view) => {
        setTotal(view.total);
        setBuckets({ labels: view.ends.map((end) => label(end, span)), values: view.slices });
        setError(null);
      },
      (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL'),
    );
  }, [token, period, refreshKey, flight]);

  const series = (pick: (value: Metrics) => number) => buckets.values.map((value) => round(pick(value)));
  return (
    <section class="panel metrics" aria-labelledby="metrics-title">
      <div class="panel-head">
        <h2 id="metrics-title">Metrics</h2>
        <label>
          Period{' '}
          <select
            value={period}
            onChange={(event) => setPeriod((event.currentTarget as HTMLSelectElement).value as Period)}
          >
            <option value="1h">Last hour</option>
            <option value="24h">Last 24 hours</option>
            <option value="7d">Last 7 days</option>
            <option value="30d">Last 30 days</option>
          </select>
        </label>
      </div>
      {error && <p class="note error">{errorText(error)}</p>}
      {total && (
        <dl class="cards" data-testid="metric-cards">
          <Card label="Sessions" value={total.total_sessions} />
          <Card label="Active now" value={total.active_sessions} />
          <Card label="Avg concurrent" value={round(total.avg_concurrent)} />
          <Card label="Max concurrent" value={total.max_concurrent} />
          <Card label="Tokens" value={total.total_tokens.toLocaleString()} />
          <Card label="Avg response" value={milliseconds(total.avg_response_ms)} />
          <Card label="Max response" value={milliseconds(total.max_response_ms)} />
          <Card label="Admin assisted" value={total.admin_assisted_count} />
          <Card label="Rated up" value={total.feedback_up ?? 0} />
          <Card label="Rated down" value={total.feedback_down ?? 0} />
          <Card label="Help → join p50" value={milliseconds(total.p50_help_response_ms ?? 0)} />
          <Card label="Help → join p90" value={milliseconds(total.p90_help_response_ms ?? 0)} />
        </dl>
      )}
      {total && (total.csat?.length ?? 0) > 0 && (
        <div class="table-wrap">
          <table class="csat-table" aria-label="CSAT per admin">
            <thead>
              <tr>
                <th scope="col">Admin</th>
                <th scope="col">CSAT</th>
                <th scope="col">Ratings</th>
                <th scope="col">1 / 2 / 3 / 4 / 5</th>
              </tr>
            </thead>
            <tbody>
              {total.csat?.map((entry) => (
                <tr key={entry.admin_id}>
                  <td>{entry.admin_name ?? entry.admin_id}</td>
                  <td class="num">{entry.average.toFixed(2)}</td>
                  <td class="num">{entry.count}</td>
                  <td>{entry.distribution.join(' / ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total && (total.models?.length ?? 0) > 0 && (
        <div class="table-wrap">
          <table class="csat-table" aria-label="Replies per model">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Replies</th>
                <th scope="col">Rated</th>
                <th scope="col">Up / down</th>
                <th scope="col">Regenerations</th>
              </tr>
            </thead>
            <tbody>
              {total.models?.map((entry) => (
                <tr key={entry.model_id}>
                  <td>{entry.model_id}</td>
                  <td class="num">{entry.replies}</td>
                  <td class="num">{Math.round(entry.feedback_rate * 100)}%</td>
                  <td>
                    {entry.feedback_up} / {entry.feedback_down}
                  </td>
                  <td class="num">{entry.regenerations}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="charts">
        <TimeChart
          title="Sessions"
          kind="bar"
          labels={buckets.labels}
          series={[{ label: 'sessions', data: series((value) => value.total_sessions), color: '#2458d6' }]}
        />
        <TimeChart
          title="Concurrency"
          kind="line"
          labels={buckets.labels}
          series={[
            { label: 'average', data: series((value) => value.avg_concurrent), color: '#1b8a4b' },
            { label: 'maximum', data: series((value) => value.max_concurrent), color: '#c77700' },
          ]}
        />
        <TimeChart
          title="Tokens"
          kind="bar"
          labels={buckets.labels}
          series={[{ label: 'tokens', data: series((value) => value.total_tokens), color: '#7b4bd6' }]}
        />
        <TimeChart
          title="Response time (ms)"
          kind="line"
          labels={buckets.labels}
          series={[
            { label: 'average', data: series((value) => value.avg_response_ms), color: '#2458d6' },
            { label: 'maximum', data: series((value) => value.max_response_ms), color: '#c62828' },
          ]}
        />
      </div>
    </section>
  );
}

function Card({ label, value }: { label: string; value: string | number }) {
  return (
    <div class="card">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 10) / 10 : 0;
}

function label(date: Date, span: number): string {
  return span <= PERIODS['24h']
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

// deploy/prometheus (alerting rules) and deploy/grafana (dashboard): every expression names
// metrics the app exports; promtool (Debian's, from scripts/services/promtool.sh as PROMTOOL_BIN)
// checks and unit-tests the rules when it is there.
const ROOT = join(__dirname, '../..');
const RULES = join(ROOT, 'deploy/prometheus/chatbox.rules.yaml');
const DASHBOARD = join(ROOT, 'deploy/grafana/chatbox.json');
// Prometheus' own series besides ours
const BUILT_IN = new Set(['up']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

// Metric names registered in src/ (name: 'chatbox_…' of the prom-client providers), with the
// series a histogram adds.
function exportedSeries(): Set<string> {
  const series = new Set(BUILT_IN);
  for (const file of sourceFiles(join(ROOT, 'src')))
    for (const [, name] of readFileSync(file, 'utf8').matchAll(/name: '(chatbox_[a-z0-9_]+)'/g))
      for (const suffix of ['', '_bucket', '_sum', '_count']) series.add(name + suffix);
  return series;
}

// The metric names an expression reads: identifiers followed by a selector, a range or an
// operator, never label names, functions or keywords.
function metricsOf(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const words = withoutStrings.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return words.filter((word) => word.startsWith('chatbox_') || BUILT_IN.has(word));
}

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}

describe('monitoring (deploy/prometheus, deploy/grafana)', () => {
  const series = exportedSeries();
  const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
    (group) => group.rules,
  );

  it('should find the metrics the app registers', () => {
    expect(series).toContain('chatbox_llm_requests_total');
    expect(series).toContain('chatbox_help_response_seconds_bucket');
    expect(metricsOf('sum by (model) (rate(chatbox_x_total{code="up"}[5m])) / up')).toEqual([
      'chatbox_x_total',
      'up',
    ]);
  });

  it('should give every alert a metric the app exports, a severity and a summary', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const rule of rules) {
      const names = metricsOf(rule.expr);
      expect([rule.alert, names.length > 0]).toEqual([rule.alert, true]);
      expect([rule.alert, names.filter((name) => !series.has(name))]).toEqual([rule.alert, []]);
      expect([rule.alert, rule.labels?.severity, Boolean(rule.annotations?.summary)]).toEqual([
        rule.alert,
        expect.stringMatching(/^(page|ticket|info)$/),
        true,
      ]);
    }
  });

  it('should be a valid Grafana dashboard whose every query names exported metrics', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      title: string;
      panels: Array<{ title: string; type: string; targets?: Array<{ expr: string }> }>;
    };
    expect(dashboard.uid).toBe('chatbox');
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
    );
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const { panel, expr } of queries) {
      const names = metricsOf(expr);
      expect([panel, names.length > 0, names.filter((name) => !series.has(name))]).toEqual([panel, true, []]);
    }
    // chat, LLM and support numbers all have panels
    const titles = dashboard.panels.map((panel) => panel.title);
    expect(titles).toEqual(expect.arrayContaining(['Chat', 'LLM', 'Support']));
  });

  const promtool = process.env.PROMTOOL_BIN;
  const withPromtool = promtool && existsSync(promtool) ? it : it.skip;
  withPromtool('should pass promtool check rules and the rules unit tests', () => {
    const run = (...args: string[]) =>
      spawnSync(promtool as string, args, { cwd: join(ROOT, 'deploy/prometheus'), encoding: 'utf8' });
    const check = run('check', 'rules', 'chatbox.rules.yaml');
    expect([check.status, check.stderr]).toEqual([0, '']);
    const unit = run('test', 'rules', 'chatbox.rules.test.yaml');
    expect([unit.status, unit.stderr]).toEqual([0, '']);
  });
});

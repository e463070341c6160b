// Small numeric helpers and the result table.

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const sorted = Float64Array.from(samples).sort();
  const values = Array.from(sorted);
  return {
    count: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length > 0 ? values[values.length - 1] : Number.NaN,
  };
}

export function format(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export interface Row {
  metric: string;
  chatbox: string;
  bare: string;
  ratio: string;
  target: string;
  verdict: string;
}

// A plain-text table (also valid Markdown) so the output can be pasted into the README as is.
export function table(rows: Row[], headings: Partial<Row> = {}): string {
  const header: Row = {
    metric: 'metric',
    chatbox: 'chatbox',
    bare: 'bare ws',
    ratio: 'ratio',
    target: 'target',
    verdict: 'pass/fail',
    ...headings,
  };
  const columns: (keyof Row)[] = ['metric', 'chatbox', 'bare', 'ratio', 'target', 'verdict'];
  const all = [header, ...rows];
  const widths = columns.map((column) => Math.max(...all.map((row) => row[column].length), 4));
  const line = (row: Row): string =>
    `| ${columns.map((column, index) => row[column].padEnd(widths[index])).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
} from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

// Chart.js, registered piecewise so only bar and line charts are bundled.
Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  Legend,
);

export interface Series {
  label: string;
  data: number[];
  color: string;
}

export function TimeChart({
  title,
  kind,
  labels,
  series,
}: {
  title: string;
  kind: 'bar' | 'line';
  labels: string[];
  series: Series[];
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  useEffect(() => {
    if (!canvas.current) return;
    chart.current = new Chart(canvas.current, {
      type: kind,
      data: { labels: [], datasets: [] },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { display: true, position: 'bottom', labels: { boxWidth: 12 } } },
        scales: { y: { beginAtZero: true } },
      },
    });
    return () => chart.current?.destroy();
  }, [kind]);
  useEffect(() => {
    const current = chart.current;
    if (!current) return;
    current.data.labels = labels;
    current.data.datasets = series.map((entry): ChartDataset<'bar' | 'line', number[]> => ({
      label: entry.label,
      data: entry.data,
      backgroundColor: entry.color,
      borderColor: entry.color,
      borderWidth: 2,
      pointRadius: 2,
      tension: 0.25,
    }));
    current.update();
  }, [labels, series]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div class="chart-box">
        <canvas ref={canvas} role="img" aria-label={`${title} chart`} />
      </div>
    </figure>
  );
}

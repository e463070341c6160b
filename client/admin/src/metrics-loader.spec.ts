import type { Metrics, MetricsAnswer, MetricsSlice } from './admin-api';
import { loadMetrics, SingleFlight, type FetchMetrics } from './metrics-loader';

const figures = (total_sessions: number): Metrics => ({
  total_sessions,
  active_sessions: 0,
  avg_concurrent: 0,
  max_concurrent: 0,
  total_tokens: 0,
  avg_response_ms: 0,
  max_response_ms: 0,
  admin_assisted_count: 0,
});

const FROM = new Date('2024-01-01T00:00:00Z');
const TO = new Date('2024-01-02T00:00:00Z');

describe(loadMetrics.name, () => {
  it('should ask once for the period and its twelve slices when the server slices', async () => {
    const buckets: MetricsSlice[] = Array.from({ length: 12 }, (_, index) => ({
      ...figures(index),
      from: new Date(FROM.getTime() + index * 7200e3).toISOString(),
      to: new Date(FROM.getTime() + (index + 1) * 7200e3).toISOString(),
    }));
    const fetch = jest.fn<Promise<MetricsAnswer>, Parameters<FetchMetrics>>(async () => ({
      ...figures(99),
      buckets,
    }));
    const view = await loadMetrics(fetch, FROM, TO, 12);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledWith(FROM, TO, 12);
    expect(view.total.total_sessions).toBe(99);
    expect(view.slices.map((slice) => slice.total_sessions)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(view.ends[11].toISOString()).toBe(TO.toISOString());
  });

  it('should fall back to a call per slice when the answer has no buckets', async () => {
    const fetch = jest.fn<Promise<MetricsAnswer>, Parameters<FetchMetrics>>(async () => figures(1));
    const view = await loadMetrics(fetch, FROM, TO, 12);
    expect(fetch).toHaveBeenCalledTimes(13);
    expect(view.slices).toHaveLength(12);
    expect(fetch.mock.calls[1]).toEqual([FROM, new Date(FROM.getTime() + 7200e3)]);
    expect(fetch.mock.calls[12][1]).toEqual(TO);
  });
});

describe(SingleFlight.name, () => {
  const deferred = () => {
    let resolve: (value: number) => void = () => undefined;
    const promise = new Promise<number>((settle) => (resolve = settle));
    return { promise, resolve };
  };
  const flush = () => new Promise((settle) => setImmediate(settle));

  it('should skip a refresh while the same load is in flight, and run the next one after', async () => {
    const flight = new SingleFlight<number>();
    const first = deferred();
    const load = jest.fn(() => first.promise);
    const done = jest.fn();
    expect(flight.run('24h', load, done, () => undefined)).toBe(true);
    expect(flight.run('24h', load, done, () => undefined)).toBe(false);
    expect(load).toHaveBeenCalledTimes(1);
    first.resolve(1);
    await flush();
    expect(done).toHaveBeenCalledWith(1);
    expect(
      flight.run(
        '24h',
        () => Promise.resolve(2),
        done,
        () => undefined,
      ),
    ).toBe(true);
  });

  it('should ignore the answer of a load dropped by a period change or an unmount', async () => {
    const flight = new SingleFlight<number>();
    const old = deferred();
    const done = jest.fn();
    flight.run(
      '24h',
      () => old.promise,
      done,
      () => undefined,
    );
    const fresh = deferred();
    flight.run(
      '7d',
      () => fresh.promise,
      done,
      () => undefined,
    );
    old.resolve(1);
    await flush();
    expect(done).not.toHaveBeenCalled();
    flight.cancel();
    fresh.resolve(2);
    await flush();
    expect(done).not.toHaveBeenCalled();
  });

  // the request itself ends: a slow server's answer no longer holds one of the browser's few
  // connections to it after the period changed or the panel went away
  it('should abort the signal of a load dropped by a period change or an unmount, and only that one', async () => {
    const flight = new SingleFlight<number>();
    const signals: AbortSignal[] = [];
    const load = (signal: AbortSignal) => {
      signals.push(signal);
      return deferred().promise;
    };
    flight.run('24h', load, jest.fn(), jest.fn());
    flight.run('24h', load, jest.fn(), jest.fn());
    expect(signals).toHaveLength(1);
    expect(signals[0].aborted).toBe(false);
    flight.run('7d', load, jest.fn(), jest.fn());
    expect(signals.map((signal) => signal.aborted)).toEqual([true, false]);
    flight.cancel();
    expect(signals.map((signal) => signal.aborted)).toEqual([true, true]);
  });

  it('should not report the failure of a load it aborted', async () => {
    const flight = new SingleFlight<number>();
    const failed = jest.fn();
    let ended = false;
    flight.run(
      '24h',
      (signal) =>
        new Promise<number>((_, reject) =>
          signal.addEventListener('abort', () => {
            ended = true;
            reject(new Error('aborted'));
          }),
        ),
      jest.fn(),
      failed,
    );
    flight.cancel();
    await flush();
    // the request ended (its fetch rejects), and that is no failure to show
    expect(ended).toBe(true);
    expect(failed).not.toHaveBeenCalled();
  });
});

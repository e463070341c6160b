import { CircuitBreaker } from './circuit-breaker';

describe(CircuitBreaker.name, () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000));

  it('should open after the threshold of failures in a row and say how long to wait', () => {
    const breaker = new CircuitBreaker(3, 10_000, clock);
    expect(breaker.failure()).toBe(false);
    expect(breaker.failure()).toBe(false);
    expect(breaker.acquire()).toBe(0);
    expect(breaker.failure()).toBe(true);
    expect(breaker.state).toBe('open');
    now += 4_000;
    expect(breaker.acquire()).toBe(6_000);
  });

  it('should let one trial through after the cooldown and close on its success', () => {
    const breaker = new CircuitBreaker(1, 1_000, clock);
    breaker.failure();
    now += 1_000;
    expect(breaker.state).toBe('half_open');
    expect(breaker.acquire()).toBe(0);
    // a second caller waits while the trial runs
    expect(breaker.acquire()).toBeGreaterThan(0);
    breaker.success();
    expect(breaker.state).toBe('closed');
    expect(breaker.acquire()).toBe(0);
  });

  it('should reopen when the trial fails, without announcing it again', () => {
    const breaker = new CircuitBreaker(1, 1_000, clock);
    expect(breaker.failure()).toBe(true);
    now += 1_000;
    breaker.acquire();
    expect(breaker.failure()).toBe(false);
    expect(breaker.acquire()).toBe(1_000);
  });

  it('should free the trial slot when the trial ends without a verdict', () => {
    const breaker = new CircuitBreaker(1, 1_000, clock);
    breaker.failure();
    now += 1_000;
    breaker.acquire();
    breaker.release();
    expect(breaker.acquire()).toBe(0);
  });

  it('should reset the count of failures on success', () => {
    const breaker = new CircuitBreaker(2, 1_000, clock);
    breaker.failure();
    breaker.success();
    expect(breaker.failure()).toBe(false);
    expect(breaker.state).toBe('closed');
  });
});

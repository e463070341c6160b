import fc from 'fast-check';
import { isIP } from 'node:net';
import { duration, host, SettingsError, TIMER_MAX_MS, TIMER_MIN_MS, url } from './env-readers';

describe(duration.name, () => {
  it('should return the fallback when the setting is unset', () => {
    expect(duration({}, 'X_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS)).toBe(30_000);
  });

  it('should throw naming the setting and the bounds when the duration is outside them', () => {
    expect(() => duration({ X_INTERVAL: '0' }, 'X_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS)).toThrow(
      'Invalid setting X_INTERVAL: must be between 1ms and 24d, got "0"',
    );
    expect(() => duration({ X_INTERVAL: '90s' }, 'X_INTERVAL', '30s', 1000, 60_000)).toThrow(
      'must be between 1s and 1m',
    );
  });

  it('should accept a duration when it is exactly on a bound', () => {
    expect(duration({ X_INTERVAL: '1ms' }, 'X_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS)).toBe(1);
    expect(duration({ X_INTERVAL: '24d' }, 'X_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS)).toBe(
      TIMER_MAX_MS,
    );
  });

  it('should keep timer bounds within what setTimeout honours', () => {
    expect(TIMER_MIN_MS).toBeGreaterThan(0);
    expect(TIMER_MAX_MS).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it('should return a value within the bounds or throw a SettingsError naming the setting when given any string', () => {
    const raw = fc.oneof(fc.string({ unit: 'binary' }), fc.stringMatching(/^\d{1,12}(ms|s|m|h|d)?$/));
    fc.assert(
      fc.property(raw, (text) => {
        try {
          const value = duration({ X_INTERVAL: text }, 'X_INTERVAL', '30s', TIMER_MIN_MS, TIMER_MAX_MS);
          expect(value).toBeGreaterThanOrEqual(TIMER_MIN_MS);
          expect(value).toBeLessThanOrEqual(TIMER_MAX_MS);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('X_INTERVAL');
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe(url.name, () => {
  it('should return an http(s) URL without trailing slashes or throw a SettingsError naming the setting when given any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl()), (text) => {
        try {
          const value = url({ BASE_URL: text }, 'BASE_URL', 'http://localhost:3000');
          expect(['http:', 'https:']).toContain(new URL(value).protocol);
          expect(value.endsWith('/')).toBe(false);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('BASE_URL');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe(host.name, () => {
  it('should accept every IP address and host name as given', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()), (text) => {
        expect(host({ X_HOST: text }, 'X_HOST')).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('should return an IP address or a host name or throw a SettingsError naming the setting when given any string', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.domain().map((name) => `${name}:80`),
        ),
        (text) => {
          try {
            const value = host({ X_HOST: text }, 'X_HOST', 'localhost') as string;
            if (isIP(value) === 0) expect(value).toMatch(/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/);
          } catch (error) {
            expect(error).toBeInstanceOf(SettingsError);
            expect((error as SettingsError).setting).toBe('X_HOST');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('should name the setting and say why when a value is not a host', () => {
    expect(host({}, 'X_HOST')).toBeUndefined();
    expect(host({}, 'X_HOST', '0.0.0.0')).toBe('0.0.0.0');
    expect(() => host({ X_HOST: '[::1]' }, 'X_HOST')).toThrow(/Invalid setting X_HOST: .*without brackets/);
    expect(() => host({ X_HOST: 'db:5432' }, 'X_HOST')).toThrow(/Invalid setting X_HOST: /);
    expect(() => host({ X_HOST: 'a..b' }, 'X_HOST')).toThrow(/Invalid setting X_HOST: /);
    expect(() => host({ X_HOST: `${'a'.repeat(64)}.example` }, 'X_HOST')).toThrow(/Invalid setting X_HOST: /);
  });
});

import fc from 'fast-check';
import { SettingsError } from './env-readers';
import {
  API_DOCS_MODES,
  LOG_LEVELS,
  parseAllowedOrigins,
  parseApiDocs,
  parseLogLevel,
} from './server.settings';

// The SettingsError a parser throws, so its setting and message can be checked.
function settingsError(parse: () => unknown): SettingsError {
  try {
    parse();
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('accepted an invalid value');
}

// Any string, including the characters that matter to URLs and lists.
const anyText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.stringMatching(/^[a-zA-Z0-9:/.*?#@[\]%, -]{0,40}$/),
);

describe(parseLogLevel.name, () => {
  it('should return info when LOG_LEVEL is unset or blank', () => {
    expect(parseLogLevel(undefined)).toBe('info');
    expect(parseLogLevel('  ')).toBe('info');
  });

  it("should accept each of pino's levels when given in any case", () => {
    for (const level of LOG_LEVELS) {
      expect(parseLogLevel(level)).toBe(level);
      expect(parseLogLevel(` ${level.toUpperCase()} `)).toBe(level);
    }
  });

  it('should throw naming LOG_LEVEL and the bad value when the level is not a pino level', () => {
    for (const bad of ['loud', 'warning', 'verbose', '10', 'info,debug']) {
      const error = settingsError(() => parseLogLevel(bad));
      expect(error.setting).toBe('LOG_LEVEL');
      expect(error.message).toContain('Invalid setting LOG_LEVEL');
      expect(error.message).toContain(bad);
    }
  });

  it('should return a pino level or throw a SettingsError naming LOG_LEVEL when given any string', () => {
    fc.assert(
      fc.property(anyText, (raw) => {
        try {
          expect(LOG_LEVELS).toContain(parseLogLevel(raw));
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('LOG_LEVEL');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe(parseAllowedOrigins.name, () => {
  it('should return no origins when ALLOWED_ORIGINS is unset or blank, so only the own origin is allowed', () => {
    expect(parseAllowedOrigins(undefined)).toEqual([]);
    expect(parseAllowedOrigins(' , ')).toEqual([]);
  });

  it('should keep * (any origin) when it is given', () => {
    expect(parseAllowedOrigins('*')).toEqual(['*']);
    expect(parseAllowedOrigins('https://a.example, *')).toEqual(['https://a.example', '*']);
  });

  it('should accept http(s) origins with a port, an IP or an IPv6 host when they are in browser form', () => {
    expect(
      parseAllowedOrigins(
        'https://app.example.com, http://localhost:5173,http://127.0.0.1:8080 , http://[::1]:3000',
      ),
    ).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
      'http://127.0.0.1:8080',
      'http://[::1]:3000',
    ]);
  });

  it('should drop one trailing slash and duplicates when an origin is written as a URL', () => {
    expect(parseAllowedOrigins('https://app.example.com/,https://app.example.com')).toEqual([
      'https://app.example.com',
    ]);
  });

  it('should throw naming ALLOWED_ORIGINS and the entry when an entry is not an origin', () => {
    for (const bad of [
      'notaurl',
      'app.example.com',
      'ftp://files.example.com',
      'https://app.example.com/chat',
      'https://app.example.com?x=1',
      'https://user@app.example.com',
      'file:///tmp/x',
      'null',
    ]) {
      const error = settingsError(() => parseAllowedOrigins(`https://ok.example,${bad}`));
      expect(error.setting).toBe('ALLOWED_ORIGINS');
      expect(error.message).toContain('Invalid setting ALLOWED_ORIGINS');
      expect(error.message).toContain(`"${bad}"`);
    }
  });

  it('should throw suggesting the browser form when an origin has upper case or a default port', () => {
    expect(settingsError(() => parseAllowedOrigins('HTTPS://App.Example.com')).message).toContain(
      'did you mean "https://app.example.com"',
    );
    expect(settingsError(() => parseAllowedOrigins('https://app.example.com:443')).message).toContain(
      'did you mean "https://app.example.com"',
    );
  });

  it('should throw naming ALLOWED_ORIGINS when a host holds a wildcard', () => {
    const error = settingsError(() => parseAllowedOrigins('https://*.example.com'));
    expect(error.setting).toBe('ALLOWED_ORIGINS');
    expect(error.message).toContain('https://*.example.com');
  });

  it('should return origins equal to their URL origin or throw a SettingsError naming ALLOWED_ORIGINS when given any string', () => {
    fc.assert(
      fc.property(anyText, (raw) => {
        let origins: string[];
        try {
          origins = parseAllowedOrigins(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting).toBe('ALLOWED_ORIGINS');
          return;
        }
        for (const origin of origins) {
          if (origin !== '*') expect(new URL(origin).origin).toBe(origin);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('should accept every http(s) origin made from a domain and a port', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        fc.domain(),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        (scheme, domain, port) => {
          const origin = new URL(`${scheme}://${domain}${port === undefined ? '' : `:${port}`}`).origin;
          expect(parseAllowedOrigins(` ${origin}/ `)).toEqual([origin]);
        },
      ),
    );
  });
});

describe(parseApiDocs.name, () => {
  it('should default to admin when API_DOCS is unset', () => {
    expect(parseApiDocs(undefined)).toBe('admin');
  });

  it('should accept off, admin and public in any case', () => {
    for (const mode of API_DOCS_MODES) expect(parseApiDocs(` ${mode.toUpperCase()} `)).toBe(mode);
  });

  it('should name API_DOCS when the value is not a mode', () => {
    const error = settingsError(() => parseApiDocs('yes'));
    expect(error.setting).toBe('API_DOCS');
  });
});

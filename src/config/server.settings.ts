import { describeSetting, SettingsError } from './env-readers';

// Server section: log level and the browser origins allowed to open the WebSocket. Each parser is
// total: it returns the parsed value or throws a SettingsError naming the setting.

// pino's levels; anything else makes pino throw at logger creation, after Nest has started
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function parseLogLevel(raw: string | undefined, name = 'LOG_LEVEL'): LogLevel {
  describeSetting({ name, kind: 'choice', fallback: 'info', range: LOG_LEVELS.join(' | ') });
  const level = (raw ?? '').trim().toLowerCase() || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new SettingsError(name, `must be one of ${LOG_LEVELS.join(', ')}, got "${raw?.trim()}"`);
  return level as LogLevel;
}

// A comma list of origins (scheme://host[:port], as browsers send them in the Origin header) or
// "*" for any; empty = only the server's own origin. Origins are matched exactly, so an entry that
// is not in the browser's form would never match: refuse it rather than ignore it.
export function parseAllowedOrigins(raw: string | undefined, name = 'ALLOWED_ORIGINS'): string[] {
  const entries = (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  return [...new Set(entries.map((entry) => (entry === '*' ? entry : origin(entry, name))))];
}

function origin(entry: string, name: string): string {
  const candidate = entry.replace(/\/$/, '');
  const problem = `"${entry}" is not an origin (http(s)://host[:port], no path; or * for any)`;
  let parsed: URL;
  try {
    parsed = new URL(candidate);
  } catch {
    throw new SettingsError(name, problem);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new SettingsError(name, problem);
  // the URL parser keeps "*" in a host; only a lone * is a wildcard here
  if (parsed.host.includes('*'))
    throw new SettingsError(name, `"${entry}": wildcards in a host are not supported (use * alone for any)`);
  if (parsed.origin !== candidate) {
    const canonical = parsed.pathname === '/' && !parsed.search && !parsed.hash && !parsed.username;
    throw new SettingsError(name, canonical ? `${problem}; did you mean "${parsed.origin}"?` : problem);
  }
  return candidate;
}

// Who may read the OpenAPI document at /chat/openapi.json: nobody (off), admins or anyone.
export const API_DOCS_MODES = ['off', 'admin', 'public'] as const;
export type ApiDocsMode = (typeof API_DOCS_MODES)[number];

export function parseApiDocs(raw: string | undefined, name = 'API_DOCS'): ApiDocsMode {
  describeSetting({ name, kind: 'choice', fallback: 'admin', range: API_DOCS_MODES.join(' | ') });
  const mode = (raw ?? '').trim().toLowerCase() || 'admin';
  if (!(API_DOCS_MODES as readonly string[]).includes(mode))
    throw new SettingsError(name, `must be one of ${API_DOCS_MODES.join(', ')}, got "${raw?.trim()}"`);
  return mode as ApiDocsMode;
}

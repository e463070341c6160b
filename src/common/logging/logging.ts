import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';

// Tokens never reach a log line: the Authorization header is redacted and `token` query values are
// cut from every logged URL, as are the signatures of signed file URLs (/chat/blob, S3 presigned)
// and an S3 link's X-Amz-Credential (the access key id), in a request's URL and in a redirect's
// Location alike: with one, anyone reading the log could fetch the file until the link expires.
// Message text is never logged at info level, and neither is what users write into a URL: a
// search's words (`q`, GET /chat/search and /chat/admin/search, the only text query of
// docs/openapi.json) and a file's name (`name` of a /chat/blob link, S3's
// `response-content-disposition`), which were logged as they were ("q=banana", "name=medical.txt").
export const REDACTED_PARAMETERS: ReadonlySet<string> = new Set([
  'token',
  'access_token',
  'signature',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-credential',
  'q',
  'name',
  'response-content-disposition',
]);

// A key as the server reads it: percent-decoded (`%71` is q), and qs reads `q[]` and `name[x]` as q
// and name; a raw-key match let those through with their values
function parameterName(rawKey: string): string {
  const [decoded = ''] = new URLSearchParams(`${rawKey}=`).keys();
  return (decoded.split(/[[\]]/).find((part) => part !== '') ?? '').toLowerCase();
}

export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const hash = url.indexOf('#');
  const beforeHash = hash === -1 ? url : url.slice(0, hash);
  const question = beforeHash.indexOf('?');
  if (question === -1) return url;
  // every other parameter is kept byte for byte
  const query = beforeHash
    .slice(question + 1)
    .split('&')
    .map((parameter) => {
      const equals = parameter.indexOf('=');
      if (equals === -1) return parameter;
      const rawKey = parameter.slice(0, equals);
      return REDACTED_PARAMETERS.has(parameterName(rawKey)) ? `${rawKey}=[REDACTED]` : parameter;
    })
    .join('&');
  return `${beforeHash.slice(0, question + 1)}${query}${hash === -1 ? '' : url.slice(hash)}`;
}

// A URL's user and password in an error's text (a MongoDB driver's parse error quotes the whole
// URI): everything from `//` to the authority's last `@`, so a password with an unescaped `@` or `/`
// goes whole. Bounded, so a long message costs linear time.
const URL_CREDENTIALS = /\/\/[^\s"'`<>]{0,512}@/g;

function withoutCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '//***@');
}

// An error as one line for the console (main.ts): its name and message only, never its fields
export function describeError(error: unknown): string {
  return withoutCredentials(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}

// pino's error serializer copied every enumerable field and the cause chain: a Mongo duplicate-key
// error's keyValue and writeErrors (whole documents), an AWS SDK error's $metadata. pino-http hands
// this its standard form, whose `raw` is the error itself.
interface SerializedError {
  type?: string;
  raw?: unknown;
}

function serializedError(serialized: unknown): unknown {
  if (typeof serialized !== 'object' || serialized === null) return serialized;
  const { type, raw } = serialized as SerializedError;
  // anything with a string message is error-like to pino (raw is set then), an Error or not
  if (typeof raw !== 'object' || raw === null) return serialized;
  const { message, stack } = raw as { message?: unknown; stack?: unknown };
  return {
    type,
    message: typeof message === 'string' ? withoutCredentials(message) : undefined,
    stack: typeof stack === 'string' ? withoutCredentials(stack) : undefined,
  };
}

// pino-http hands a response serializer its standard form ({statusCode, headers}), not the response
interface SerializedResponse {
  statusCode?: number;
  headers?: Record<string, unknown>;
}

// Only these response headers are logged: a download's Content-Disposition carries the user's file
// name (GET /chat/blob), and a header added later may carry anything else
const LOGGED_RESPONSE_HEADERS = ['content-type', 'content-length', 'location', 'retry-after'];

function loggedHeaders(headers: Record<string, unknown> = {}): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const name of LOGGED_RESPONSE_HEADERS) if (headers[name] !== undefined) kept[name] = headers[name];
  if (typeof kept.location === 'string') kept.location = redactUrl(kept.location);
  return kept;
}

export function loggerParams(level: string): Params {
  return {
    pinoHttp: {
      level,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["sec-websocket-protocol"]',
          'req.headers.cookie',
          'res.headers["set-cookie"]',
        ],
        censor: '[REDACTED]',
      },
      serializers: {
        req: (request: IncomingMessage & { id?: unknown }) => ({
          id: request.id,
          method: request.method,
          url: redactUrl(request.url),
        }),
        res: (response: SerializedResponse) => ({
          statusCode: response.statusCode,
          headers: loggedHeaders(response.headers),
        }),
        // every site that logs an `err`: nestjs-pino's Logger, pino-http's failed requests
        err: serializedError,
      },
      customProps: () => ({ component: 'http' }),
      // probes and scrapes would drown the log
      autoLogging: { ignore: (request) => /^\/(metrics|chat\/(healthz|readyz))/.test(request.url ?? '') },
    },
  };
}

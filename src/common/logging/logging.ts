import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';

// Tokens never reach a log line: the Authorization header is redacted and `token` query values are
// cut from every logged URL, as are the signatures of signed file URLs (/chat/blob, S3 presigned),
// in a request's URL and in a redirect's Location alike: with one, anyone reading the log could
// fetch the file until the link expires. Message text is never logged at info level, and neither is
// what users write into a URL: a search's words (`q`, GET /chat/search and /chat/admin/search, the
// only text query of docs/openapi.json) and a file's name (`name` of a /chat/blob link, S3's
// `response-content-disposition`), which were logged as they were ("q=banana", "name=medical.txt").
const REDACTED_QUERY =
  /([?&](?:token|access_token|signature|x-amz-signature|x-amz-security-token|q|name|response-content-disposition)=)[^&#]*/gi;

export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(REDACTED_QUERY, '$1[REDACTED]');
}

// pino-http hands a response serializer its standard form ({statusCode, headers}), not the response
interface SerializedResponse {
  statusCode?: number;
  headers?: Record<string, unknown>;
}

function redactedHeaders(headers: Record<string, unknown> = {}): Record<string, unknown> {
  const kept = { ...headers };
  delete kept['set-cookie'];
  if (typeof kept.location === 'string') kept.location = redactUrl(kept.location);
  return kept;
}

export function loggerParams(level: string): Params {
  return {
    pinoHttp: {
      level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
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
          headers: redactedHeaders(response.headers),
        }),
      },
      customProps: () => ({ component: 'http' }),
      // probes and scrapes would drown the log
      autoLogging: { ignore: (request) => /^\/(metrics|chat\/(healthz|readyz))/.test(request.url ?? '') },
    },
  };
}

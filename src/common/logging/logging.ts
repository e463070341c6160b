import type { IncomingMessage } from 'node:http';
import type { Params } from 'nestjs-pino';

// Tokens never reach a log line: the Authorization header is redacted and `token` query values are
// cut from every logged URL, as are the signatures of signed file URLs (/chat/blob). Message text
// is never logged at info level.
export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(/([?&](?:token|access_token|signature)=)[^&#]*/gi, '$1[REDACTED]');
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
      },
      customProps: () => ({ component: 'http' }),
      // probes and scrapes would drown the log
      autoLogging: { ignore: (request) => /^\/(metrics|chat\/(healthz|readyz))/.test(request.url ?? '') },
    },
  };
}

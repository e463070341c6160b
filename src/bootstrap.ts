import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname, join, sep } from 'node:path';
import { Logger as NestLogger, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { ADMIN_AREA, adminArea } from './common/auth/admin-area.middleware';
import { TokenService } from './common/auth/token.service';
import { requestBodyPipeline } from './common/http/request-body';
import { guardRequests } from './common/http/request-gate';
import { openFramingWarning, securityHeaders } from './common/http/security-headers';
import { UserRequests } from './common/http/user-requests';
import { SETTINGS, type Settings } from './config/settings';
import { API_DOCUMENT, type ApiDocument } from './modules/api-docs/api-document';
import { buildOpenApiDocument } from './modules/api-docs/openapi-document';
import { ChatWsAdapter } from './modules/chat/chat-ws.adapter';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const EMBED_SDK = /chatbox-embed\.m?js$/;

// Builds the app from already-validated settings: used by main.ts and by the e2e suites. Nest's own
// body parsers are off: configureApp parses bodies, and only after the token check.
export async function createApp(settings: Settings): Promise<INestApplication> {
  return configureApp(
    await NestFactory.create<NestExpressApplication>(AppModule.with(settings), {
      bufferLogs: true,
      bodyParser: false,
    }),
  );
}

// the characters of field names and messages a 400 from the validation pipe carries, at most
export const VALIDATION_MESSAGE_BUDGET = 1_000;

// Logger, pipes, the WebSocket adapter, security headers, request bodies and the static front
// ends, on an app however it was made (create it with `bodyParser: false`).
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      // a refusal names what is wrong, not every one of thousands of unknown keys (docs/protocol.md,
      // "Bad input"): Nest's default budget is a million characters
      maxErrorMessagesLength: VALIDATION_MESSAGE_BUDGET,
    }),
  );
  app.useWebSocketAdapter(new ChatWsAdapter(app));
  // An upgrade's socket has no 'error' listener until ws takes it (Node drops its own on upgrade), and
  // Nest's adapter refuses some upgrades before ws sees them (a Host its URL parser rejects): a client
  // resetting such a socket ended the process with an unhandled 'error' (docs/protocol.md, "Bad
  // input"). Every upgrade's socket gets one first; ws adds its own when it takes the socket.
  (app.getHttpServer() as Server).prependListener('upgrade', (_request: unknown, socket: Duplex) =>
    socket.on('error', () => undefined),
  );
  // pipelining and request deadlines (src/common/http/request-gate.ts): after Express's listener
  guardRequests(app.getHttpServer() as Server, {
    deadlineMs: app.get<Settings>(SETTINGS).requestBodyTimeoutMs,
  });
  // static front ends built by `npm run build` into client/dist (CONTRACT §6); express.static falls
  // through to the API on a miss, so /chat/ws and /chat/sessions keep working under the same prefix
  const client = join(__dirname, '..', 'client', 'dist');
  app.use(securityHeaders(app.get<Settings>(SETTINGS), join(client, 'chat')));
  const framing = openFramingWarning(app.get<Settings>(SETTINGS).allowedOrigins);
  if (framing) new NestLogger('http').warn({ event: 'framing_open' }, framing);
  // /chat and /admin are the pages too (a parent app may link them without the slash; the query,
  // which may carry the token, is kept)
  app.use((request: Request, response: Response, next: NextFunction) => {
    if (request.path !== '/chat' && request.path !== '/admin') return next();
    const query = request.originalUrl.slice(request.path.length);
    response.redirect(301, `${request.path}/${query}`);
  });
  // the admin API's prefix: 401/403 before routing, pages and bodies (src/common/auth/admin-area.middleware.ts)
  app.use(ADMIN_AREA, adminArea(app.get(TokenService)));
  for (const name of ['chat', 'admin'])
    app.useStaticAssets(join(client, name), {
      prefix: `/${name}/`,
      index: 'index.html',
      redirect: false,
      // hashed bundles never change; pages are revalidated so a deploy is picked up at once
      setHeaders: (response, path) => {
        response.setHeader('cache-control', path.includes(`${sep}assets${sep}`) ? IMMUTABLE : 'no-cache');
        // the embed SDK is imported by parent pages of other origins (a module import needs CORS)
        if (EMBED_SDK.test(path)) response.setHeader('Access-Control-Allow-Origin', '*');
      },
    });
  // API_DOCS: the document of the live controllers, and Swagger UI's files for /chat/api-docs/
  const settings = app.get<Settings>(SETTINGS);
  app.get<ApiDocument>(API_DOCUMENT).buildWith(() => buildOpenApiDocument(app));
  if (settings.apiDocs !== 'off')
    app.useStaticAssets(dirname(require.resolve('swagger-ui-dist/package.json')), {
      prefix: '/chat/api-docs/assets/',
      index: false,
      redirect: false,
    });
  // after the pages, which read no body: bodies of API requests, each read once its user's line has
  // a place for it (src/common/http/user-requests.ts)
  for (const layer of requestBodyPipeline(app.get(TokenService), app.get(UserRequests))) app.use(layer);
  return app;
}

import { join } from 'node:path';
import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import type { Settings } from './config/settings';
import { ChatWsAdapter } from './modules/chat/chat-ws.adapter';

// Builds the app from already-validated settings: used by main.ts and by the e2e suites.
export async function createApp(settings: Settings): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.with(settings), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.useWebSocketAdapter(new ChatWsAdapter(app));
  // static front ends (CONTRACT §6); express.static falls through to the API on a miss
  const client = join(__dirname, '..', 'client');
  app.useStaticAssets(join(client, 'chat'), { prefix: '/chat/', index: 'index.html', redirect: false });
  app.useStaticAssets(join(client, 'admin'), { prefix: '/admin/', index: 'index.html', redirect: false });
  return app;
}

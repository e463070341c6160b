// chatbox with persistence off, for the bench only: the app as dist/main.js builds it, except that
// SessionsRepository keeps sessions in memory (bench/memory-sessions.ts). Everything else (auth,
// validation, encryption, the hub, metrics, the LLM path) is the product's code. MongoDB is still
// connected, for the modules that need it at boot, but no session read or write reaches it.
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../src/app.module';
import { configureApp } from '../src/bootstrap';
import { loadSettings } from '../src/config/settings';
import { SessionsRepository } from '../src/modules/sessions/sessions.repository';
import { SessionTermsRepository } from '../src/modules/sessions/session-terms.repository';
import { MemorySessionsRepository, MemorySessionTermsRepository } from './memory-sessions';

async function main(): Promise<void> {
  const settings = loadSettings();
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.with(settings)] })
    .overrideProvider(SessionsRepository)
    .useClass(MemorySessionsRepository)
    .overrideProvider(SessionTermsRepository)
    .useClass(MemorySessionTermsRepository)
    .compile();
  const app = configureApp(moduleRef.createNestApplication<NestExpressApplication>({ bufferLogs: true }));
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
  await app.listen(settings.port, settings.host);
}

void main();

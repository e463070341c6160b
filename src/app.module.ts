import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { MongooseModule } from '@nestjs/mongoose';
import { STORE_CLIENT_OPTIONS } from './infra/store/client-options';
import { StoreModule } from './infra/store/store.module';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import { SETTINGS, type Settings } from './config/settings';
import { AuthModule } from './common/auth/auth.module';
import { HttpExceptionFilter } from './common/errors/http-exception.filter';
import { loggerParams } from './common/logging/logging';
import { BusModule } from './infra/bus/bus.module';
import { LockModule } from './infra/lock/lock.module';
import { CellRateStorage } from './infra/bus/cell-rate.storage';
import { RedisThrottlerStorage } from './infra/bus/redis-throttler.storage';
import { AdminModule } from './modules/admin/admin.module';
import { ApiDocsModule } from './modules/api-docs/api-docs.module';
import { ChatModule } from './modules/chat/chat.module';
import { FeedbackModule } from './modules/feedback/feedback.module';
import { HistoryModule } from './modules/history/history.module';
import { SearchModule } from './modules/search/search.module';
import { CannedModule } from './modules/canned/canned.module';
import { NotesModule } from './modules/notes/notes.module';
import { HealthModule } from './modules/health/health.module';
import { MetricsModule } from './modules/metrics/metrics.module';
import { NotificationsModule } from './modules/notifications/notifications.module';
import { UploadsModule } from './modules/uploads/uploads.module';

@Global()
@Module({})
class SettingsModule {
  static of(settings: Settings): DynamicModule {
    return {
      module: SettingsModule,
      providers: [{ provide: SETTINGS, useValue: settings }],
      exports: [SETTINGS],
    };
  }
}

// Settings are parsed before the app exists (main.ts) and handed in whole.
@Module({})
export class AppModule {
  static with(settings: Settings): DynamicModule {
    return {
      module: AppModule,
      imports: [
        SettingsModule.of(settings),
        LoggerModule.forRoot(loggerParams(settings.logLevel)),
        MongooseModule.forRoot(settings.mongodbUri, STORE_CLIENT_OPTIONS),
        // the per-user budgets as cell rates (docs/protocol.md, "Rate limits"); with REDIS_URL
        // counted in Redis, so they hold across instances
        ThrottlerModule.forRoot({
          throttlers: [],
          storage: settings.redisUrl ? new RedisThrottlerStorage(settings.redisUrl) : new CellRateStorage(),
        }),
        StoreModule,
        BusModule,
        LockModule,
        AuthModule,
        MetricsModule,
        NotificationsModule,
        UploadsModule,
        ChatModule,
        AdminModule,
        FeedbackModule,
        HistoryModule,
        SearchModule,
        CannedModule,
        NotesModule,
        HealthModule,
        ApiDocsModule.with(settings.apiDocs),
      ],
      providers: [{ provide: APP_FILTER, useClass: HttpExceptionFilter }],
    };
  }
}

import { Controller, Get, Inject, Optional, Res, ServiceUnavailableException } from '@nestjs/common';
import type { Response } from 'express';
import { InjectConnection } from '@nestjs/mongoose';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Connection } from 'mongoose';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../../common/auth/auth.decorators';
import { RecentAnswer } from '../../common/recent-answer';
import { BUS, type Bus } from '../../infra/bus/bus';
import { ChatGateway } from '../chat/chat.gateway';
import type { ClamdScanner } from '../../infra/scanner/clamd.scanner';
import { STORAGE_DRIVER, type StorageDriver } from '../../infra/storage/storage-driver';
import { MALWARE_SCANNER } from '../uploads/uploads.service';
import { LivenessDto, ReadinessDto } from './dto/health-responses.dto';

// how long one answer of a dependency serves every readiness request (README, "Deploy (Helm)")
const READINESS_ANSWER_MS = 1_000;
// how long the store has to answer readiness's ping
const STORE_PING_MS = 1_500;
const CONNECTED = 1;

@Controller('chat')
@Public()
@ApiTags('health')
export class HealthController {
  // Readiness is public: each dependency is asked at most once a second however many ask it
  private readonly store = new RecentAnswer(() => this.storeAnswers(), READINESS_ANSWER_MS);
  // the ping still unanswered: one at a time, however long a frozen store holds it
  private storePing?: Promise<boolean>;
  private readonly scanning = new RecentAnswer(
    async () => (this.scanner ? this.scanner.ping(1500) : true),
    READINESS_ANSWER_MS,
  );
  private readonly redis = new RecentAnswer(() => this.bus.health(), READINESS_ANSWER_MS);

  constructor(
    private readonly health: HealthCheckService,
    @InjectConnection() private readonly connection: Connection,
    private readonly indicators: HealthIndicatorService,
    private readonly gateway: ChatGateway,
    @Inject(BUS) private readonly bus: Bus,
    @Optional() @Inject(MALWARE_SCANNER) private readonly scanner: ClamdScanner | null = null,
    @Optional() @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver | null = null,
  ) {}

  @Get('healthz')
  @ApiOkResponse({ type: LivenessDto })
  live() {
    return { status: 'ok' };
  }

  // 503 when MongoDB does not answer, a configured dependency (Redis, clamd, the file store) is
  // unreachable, or the instance is draining for shutdown: with the same body as 200 (`status`,
  // `details` naming what is down), not the error envelope (docs/operations.md)
  @Get('readyz')
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ type: ReadinessDto, description: 'a dependency is down, or draining' })
  @HealthCheck()
  async ready(@Res({ passthrough: true }) response: Response) {
    try {
      return await this.check();
    } catch (error) {
      // terminus throws its readiness body as a 503; the app's exception filter would make it
      // {error: {code, message}} and hide which dependency is down
      if (!(error instanceof ServiceUnavailableException)) throw error;
      response.status(503);
      return error.getResponse();
    }
  }

  // The store answers a ping within STORE_PING_MS. terminus's mongoose pingCheck sends none: it
  // reads the connection's state, which a frozen store (SIGSTOP, a paused host) leaves "connected"
  // until the driver's monitor gives up: readyz stayed 200 for about 5.5 s (embed audit of session
  // 41, 3 of 3 runs; docs/operations.md).
  private async storeAnswers() {
    const mongodb = this.indicators.check('mongodb');
    const db = this.connection.db;
    if (this.connection.readyState !== CONNECTED || !db) return mongodb.down({ reason: 'not connected' });
    this.storePing ??= db
      .admin()
      .command({ ping: 1 })
      .then(
        () => true,
        () => false,
      )
      .finally(() => (this.storePing = undefined));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STORE_PING_MS)));
    try {
      return (await Promise.race([this.storePing, late]))
        ? mongodb.up()
        : mongodb.down({ reason: `no answer to ping within ${STORE_PING_MS} ms` });
    } finally {
      clearTimeout(timer);
    }
  }

  private check() {
    return this.health.check([
      () => this.store.get(),
      () => {
        const instance = this.indicators.check('instance');
        return this.gateway.draining ? instance.down({ reason: 'draining' }) : instance.up();
      },
      // Redis when REDIS_URL is set: without it this instance misses the others' events
      async () => {
        const redis = this.indicators.check('redis');
        if (this.bus.kind !== 'redis') return redis.up({ bus: 'in-process' });
        const health = await this.redis.get();
        return health.up ? redis.up() : redis.down({ reason: health.detail });
      },
      // clamd when CLAMAV_HOST is set: without it uploads are refused (fail closed)
      async () => {
        const clamd = this.indicators.check('clamd');
        if (!this.scanner) return clamd.up({ scanning: 'off' });
        return (await this.scanning.get()) ? clamd.up() : clamd.down({ reason: 'no answer' });
      },
      // where uploads live: S3 answers HeadBucket (cached a few seconds), or the upload dir is writable
      async () => {
        const storage = this.indicators.check('storage');
        if (!this.storage) return storage.up({ driver: 'none' });
        const health = await this.storage.health();
        return health.up
          ? storage.up({ driver: this.storage.kind })
          : storage.down({ driver: this.storage.kind, reason: health.detail });
      },
    ]);
  }
}

import { Controller, Get } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  MongooseHealthIndicator,
} from '@nestjs/terminus';
import { Public } from '../../common/auth/auth.decorators';
import { ChatGateway } from '../chat/chat.gateway';

@Controller('chat')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly mongoose: MongooseHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly gateway: ChatGateway,
  ) {}

  @Get('healthz')
  live() {
    return { status: 'ok' };
  }

  // 503 when MongoDB does not answer or the instance is draining for shutdown
  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.mongoose.pingCheck('mongodb', { timeout: 1500 }),
      () => {
        const instance = this.indicators.check('instance');
        return this.gateway.draining ? instance.down({ reason: 'draining' }) : instance.up();
      },
    ]);
  }
}

import { Controller, Get, Global, Module, Res } from '@nestjs/common';
import { PrometheusController, PrometheusModule } from '@willsoto/nestjs-prometheus';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../../common/auth/auth.decorators';
import { ChatMetrics, METRIC_PROVIDERS } from './chat-metrics';
import { StoreMetrics, storeCommandsProvider } from './store-metrics';

// /metrics is public at the app; deployments restrict it at the network (CONTRACT §3).
@Controller()
@Public()
@ApiTags('health')
export class MetricsController extends PrometheusController {
  @Get()
  @ApiOkResponse({
    description: 'Prometheus text format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  override async index(@Res({ passthrough: true }) response: Response) {
    return super.index(response);
  }
}

@Global()
@Module({
  imports: [PrometheusModule.register({ path: '/metrics', controller: MetricsController })],
  providers: [...METRIC_PROVIDERS, ChatMetrics, storeCommandsProvider, StoreMetrics],
  exports: [ChatMetrics],
})
export class MetricsModule {}

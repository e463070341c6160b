import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ChatModule } from '../chat/chat.module';
import { HealthController } from './health.controller';
import { KeySurveyService } from './key-survey.service';
import { StoredKeyIdsRepository } from './stored-key-ids.repository';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), ChatModule],
  controllers: [HealthController],
  providers: [StoredKeyIdsRepository, KeySurveyService],
})
export class HealthModule {}

import { Module } from '@nestjs/common';
import { RealtimeModule } from '../realtime/realtime.module';
import { SessionsModule } from '../sessions/sessions.module';
import { FeedbackController } from './feedback.controller';
import { FeedbackService } from './feedback.service';

// Ratings of AI replies; the sessions module stores them (one writer of the collection).
@Module({
  imports: [SessionsModule, RealtimeModule],
  controllers: [FeedbackController],
  providers: [FeedbackService],
})
export class FeedbackModule {}

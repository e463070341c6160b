import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { SearchController } from './search.controller';

// Search over sessions; the index lives in the sessions module, written with each message.
@Module({
  imports: [SessionsModule],
  controllers: [SearchController],
})
export class SearchModule {}

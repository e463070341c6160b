import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CannedResponsesController } from './canned-responses.controller';
import { CannedResponsesRepository } from './canned-responses.repository';
import { CannedResponsesService } from './canned-responses.service';
import { CannedResponse, CannedResponseSchema } from './schemas/canned-response.schema';

// Canned responses for admins (their own collection; the repository stays inside).
@Module({
  imports: [MongooseModule.forFeature([{ name: CannedResponse.name, schema: CannedResponseSchema }])],
  controllers: [CannedResponsesController],
  providers: [CannedResponsesRepository, CannedResponsesService],
})
export class CannedModule {}

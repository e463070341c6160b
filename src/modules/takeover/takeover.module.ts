import { forwardRef, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ChatModule } from '../chat/chat.module';
import { Session, SessionSchema } from '../sessions/schemas/session.schema';
import { SessionsModule } from '../sessions/sessions.module';
import { HelpService } from './help.service';
import { TakeoverLeaseService } from './takeover-lease.service';
import { TakeoverController } from './takeover.controller';
import { TakeoverRepository } from './takeover.repository';
import { TakeoverService } from './takeover.service';
import { TakeoverClaim, TakeoverClaimSchema } from './schemas/takeover-claim.schema';

// Chat commands call into takeover (admin_join, help_request…) and takeover reaches clients through
// the chat hub: the two modules import each other.
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Session.name, schema: SessionSchema },
      { name: TakeoverClaim.name, schema: TakeoverClaimSchema },
    ]),
    SessionsModule,
    forwardRef(() => ChatModule),
  ],
  controllers: [TakeoverController],
  providers: [TakeoverRepository, TakeoverLeaseService, TakeoverService, HelpService],
  exports: [TakeoverService, HelpService],
})
export class TakeoverModule {}

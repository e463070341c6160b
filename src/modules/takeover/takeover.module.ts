import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { RealtimeModule } from '../realtime/realtime.module';
import { RepliesModule } from '../replies/replies.module';
import { SessionsModule } from '../sessions/sessions.module';
import { HelpService } from './help.service';
import { LeaveNoticeService } from './leave-notice.service';
import { TakeoverBindingsService } from './takeover-bindings.service';
import { TakeoverLeaseService } from './takeover-lease.service';
import { TakeoverLogService } from './takeover-log.service';
import { TakeoverRenewalsService } from './takeover-renewals.service';
import { TakeoverController } from './takeover.controller';
import { TakeoverRepository } from './takeover.repository';
import { TakeoverService } from './takeover.service';
import { TakeoverClaim, TakeoverClaimSchema } from './schemas/takeover-claim.schema';

// Help requests and takeovers. Reaches clients through the realtime hub, stores events through the
// replies module's record path, and tells the replies module when a takeover starts or ends by
// session events (it never calls it: no module cycle).
@Module({
  imports: [
    MongooseModule.forFeature([{ name: TakeoverClaim.name, schema: TakeoverClaimSchema }]),
    SessionsModule,
    RealtimeModule,
    RepliesModule,
  ],
  controllers: [TakeoverController],
  providers: [
    TakeoverRepository,
    TakeoverBindingsService,
    TakeoverLogService,
    TakeoverLeaseService,
    TakeoverRenewalsService,
    LeaveNoticeService,
    TakeoverService,
    HelpService,
  ],
  // TakeoverRepository: the purge of deleted sessions removes their takeover records
  exports: [TakeoverService, HelpService, TakeoverRepository],
})
export class TakeoverModule {}

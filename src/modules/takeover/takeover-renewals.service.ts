import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { TakeoverBindingsService } from './takeover-bindings.service';
import { renewalPeriod, TakeoverLeaseService } from './takeover-lease.service';
import { TakeoverRepository } from './takeover.repository';

// Every renewal period, on every instance: renews the leases of the admins connected here and ends
// the leases that lapsed anywhere (docs/protocol.md, "Takeover handoff").
@Injectable()
export class TakeoverRenewalsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('takeover');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly bindings: TakeoverBindingsService,
    private readonly lease: TakeoverLeaseService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), renewalPeriod(this.settings.takeoverGraceMs));
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  // Renews the leases of admins connected here; ends leases that lapsed anywhere.
  private async tick(): Promise<void> {
    try {
      const renewed = new Set<string>();
      for (const [id, binding] of this.bindings.all()) {
        const { connection } = binding;
        // a socket that showed no life for a whole grace (its admin's machine vanished without a
        // close) renews nothing: it is ended, and the lease lapses as after a close
        if (Date.now() - connection.seenAt > this.settings.takeoverGraceMs) {
          this.logger.log({ event: 'admin_socket_silent', admin_id: binding.claim.adminId }, 'admin silent');
          this.bindings.drop(id);
          connection.socket.terminate();
          continue;
        }
        // asks for a pong, so a live admin's seenAt stays fresh between its frames
        connection.socket.ping();
        const key = `${binding.claim.sessionId}:${binding.claim.epoch}`;
        if (renewed.has(key)) continue;
        renewed.add(key);
        // a grace from the admin's last sign of life, not from now: a vanished admin's lease ends
        // at most TAKEOVER_GRACE plus one tick after its last pong
        const until = new Date(connection.seenAt + this.settings.takeoverGraceMs);
        // ended elsewhere, and its end not heard here (Redis away)
        if (!(await this.lease.judge.timed(() => this.repository.renew(binding.claim, until))))
          this.bindings.letGo(id);
      }
      const now = new Date();
      for (const claim of await this.lease.judge.timed(() => this.repository.lapsed(now))) {
        // the claim row may be stale (a renewal elsewhere); judge by the latest read
        const latest = await this.lease.judge.timed(() => this.repository.latest(claim.sessionId));
        if (latest && latest.epoch === claim.epoch && !latest.ended) {
          // run out in the store: lapsed unless the store was away too lately for its holder to have
          // renewed it since (LapseJudge), or a renewal that read it decided it first
          if (this.lease.judge.lapsed(latest.leaseUntil)) await this.lease.lapse(latest);
        }
        // ended (or followed by a newer claim, which ended it) but never closed: its finisher died
        else
          await this.lease.complete(latest?.epoch === claim.epoch ? latest : { ...claim, ended: true }, true);
      }
    } catch (error) {
      this.logger.warn({ event: 'takeover_tick_failed', err: String(error) }, 'takeover renewal failed');
    }
  }
}

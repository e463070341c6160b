import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { CellRate } from '../cell-rate';

export interface Refusal {
  status: number;
  reason: string;
  // a refusal that passes with time says when (the upgrade's Retry-After)
  retryAfterSeconds?: number;
}

// a user's connects may come this many seconds' worth at once (a page of several sockets, a
// network that came back), then at CONNECT_RATE_PER_USER a second
const CONNECT_BURST_SECONDS = 3;

// How many WebSockets each user holds on this instance, and the bounds on them (docs/protocol.md,
// "Socket limits"): past MAX_SOCKETS_PER_USER a user's upgrade is refused with 429, past MAX_SOCKETS
// any upgrade with 503 (a load balancer sends the client to another instance), before a socket
// exists. Each open socket holds memory here, so one token opening sockets without end would
// otherwise run the process out of it. Both socket paths count together; a gateway counts a socket
// from its handleConnection to its handleDisconnect, which ws runs in the same turn as the check.
// A user's connects are budgeted too (CONNECT_RATE_PER_USER a second, 429 with Retry-After past
// it): each costs a store read and its close a write, so one token connecting and closing in a loop
// would otherwise make an instance's store work for it alone.
@Injectable()
export class SocketQuota {
  private readonly perUser = new Map<string, number>();
  private total = 0;
  private readonly maxPerUser: number;
  private readonly max: number;
  private readonly connects: CellRate;

  constructor(
    @Inject(SETTINGS)
    settings: Pick<Settings, 'maxSocketsPerUser' | 'maxSockets' | 'connectRatePerUser'>,
  ) {
    this.maxPerUser = settings.maxSocketsPerUser;
    this.max = settings.maxSockets;
    this.connects = new CellRate(
      settings.connectRatePerUser,
      Math.ceil(settings.connectRatePerUser * CONNECT_BURST_SECONDS),
    );
  }

  // Whether a new socket of `userId` may open now: the bounds first, then the user's connect budget,
  // which an admitted upgrade spends (a refused one spends nothing)
  admit(userId: string, now = Date.now()): Refusal | undefined {
    const refused = this.refusal(userId);
    if (refused) return refused;
    const wait = this.connects.take(userId, now);
    if (wait === 0) return undefined;
    return { status: 429, reason: 'Connecting too often', retryAfterSeconds: Math.ceil(wait / 1000) };
  }

  // why a new socket of `userId` is refused, if it is
  refusal(userId: string): Refusal | undefined {
    if (this.total >= this.max) return { status: 503, reason: 'Too many connections' };
    if ((this.perUser.get(userId) ?? 0) >= this.maxPerUser)
      return { status: 429, reason: 'Too many connections for this user' };
    return undefined;
  }

  opened(userId: string): void {
    this.total++;
    this.perUser.set(userId, (this.perUser.get(userId) ?? 0) + 1);
  }

  closed(userId: string): void {
    const held = this.perUser.get(userId);
    if (held === undefined) return;
    this.total--;
    if (held <= 1) this.perUser.delete(userId);
    else this.perUser.set(userId, held - 1);
  }

  // sockets counted now, of one user or of all
  count(userId?: string): number {
    return userId === undefined ? this.total : (this.perUser.get(userId) ?? 0);
  }
}

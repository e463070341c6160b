import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';

export interface Refusal {
  status: number;
  reason: string;
}

// How many WebSockets each user holds on this instance, and the bounds on them (docs/protocol.md,
// "Socket limits"): past MAX_SOCKETS_PER_USER a user's upgrade is refused with 429, past MAX_SOCKETS
// any upgrade with 503 (a load balancer sends the client to another instance), before a socket
// exists. Each open socket holds memory here, so one token opening sockets without end would
// otherwise run the process out of it. Both socket paths count together; a gateway counts a socket
// from its handleConnection to its handleDisconnect, which ws runs in the same turn as the check.
@Injectable()
export class SocketQuota {
  private readonly perUser = new Map<string, number>();
  private total = 0;
  private readonly maxPerUser: number;
  private readonly max: number;

  constructor(@Inject(SETTINGS) settings: Pick<Settings, 'maxSocketsPerUser' | 'maxSockets'>) {
    this.maxPerUser = settings.maxSocketsPerUser;
    this.max = settings.maxSockets;
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

import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { RoomMessagesService } from './room-messages.service';

// Every REST write of the rooms API (anything but GET) spends the user's `room-rest` budget,
// ROOM_RATE_LIMIT_MESSAGES_PER_SECOND a second on every instance together (docs/protocol.md, "REST"):
// without it a user could join and leave a public room in a loop, each a system message to every
// member, or make rooms and direct messages without end. Past it: 429 RATE_LIMITED with retry_after.
// Runs after the global AuthGuard, which has set the principal.
@Injectable()
export class RoomWriteRateGuard implements CanActivate {
  constructor(private readonly messages: RoomMessagesService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<{ method: string; principal?: Principal }>();
    if (request.method === 'GET' || request.method === 'HEAD' || !request.principal) return true;
    await this.messages.checkRate(request.principal.userId, 'room-rest');
    return true;
  }
}

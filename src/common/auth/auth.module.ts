import { Global, Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { AuthGuard } from './auth.guard';
import { SocketQuota } from './socket-quota';
import { TokenService } from './token.service';
import { UserRequests } from '../http/user-requests';

@Global()
@Module({
  imports: [JwtModule.register({})],
  providers: [
    TokenService,
    SocketQuota,
    { provide: APP_GUARD, useClass: AuthGuard },
    UserRequests,
    // after the guard: a request holds its user's place once the user is known
    { provide: APP_INTERCEPTOR, useExisting: UserRequests },
  ],
  exports: [TokenService, SocketQuota],
})
export class AuthModule {}

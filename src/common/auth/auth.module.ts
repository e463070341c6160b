import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { AuthGuard } from './auth.guard';
import { SocketQuota } from './socket-quota';
import { TokenService } from './token.service';

@Global()
@Module({
  imports: [JwtModule.register({})],
  providers: [TokenService, SocketQuota, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [TokenService, SocketQuota],
})
export class AuthModule {}

import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { principalOf } from '../http/request-principal';
import { IS_PUBLIC, REQUIRED_ROLE } from './auth.decorators';
import type { Principal } from './principal';
import { TokenService } from './token.service';

// Global HTTP guard: a valid token everywhere unless @Public(); @AdminOnly() needs an admin role.
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    // verified once per request: the middleware before the body may have asked already
    const principal = principalOf(this.tokens, request);
    request.principal = principal;
    const role = this.reflector.getAllAndOverride<string | undefined>(REQUIRED_ROLE, targets);
    if (role === 'admin' && !principal.isAdmin) throw new DomainException(ErrorCode.FORBIDDEN);
    return true;
  }
}

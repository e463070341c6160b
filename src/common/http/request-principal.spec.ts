import type { IncomingMessage } from 'node:http';
import type { TokenService } from '../auth/token.service';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { principalOf } from './request-principal';

const PRINCIPAL = { userId: 'u', roles: [], isAdmin: false, expiresAt: 0 };

function requestWith(authorization?: string): IncomingMessage {
  return { headers: { authorization } } as IncomingMessage;
}

describe(principalOf.name, () => {
  it('should verify a request’s token once, however many ask, and give each the same principal', () => {
    const verify = jest.fn(() => PRINCIPAL);
    const tokens = { verify } as unknown as TokenService;
    const request = requestWith('Bearer abc');
    expect(principalOf(tokens, request)).toBe(PRINCIPAL);
    expect(principalOf(tokens, request)).toBe(PRINCIPAL);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(verify).toHaveBeenCalledWith('abc');
    // another request is another verification
    principalOf(tokens, requestWith('Bearer abc'));
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('should throw the same refusal to each that asks, verified once', () => {
    const refusal = new DomainException(ErrorCode.UNAUTHORIZED, 'Missing token.');
    const verify = jest.fn(() => {
      throw refusal;
    });
    const tokens = { verify } as unknown as TokenService;
    const request = requestWith();
    expect(() => principalOf(tokens, request)).toThrow(refusal);
    expect(() => principalOf(tokens, request)).toThrow(refusal);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(verify).toHaveBeenCalledWith(undefined);
  });

  it('should keep no verdict when verifying failed by a bug', () => {
    const verify = jest
      .fn<typeof PRINCIPAL, [string | undefined]>()
      .mockImplementationOnce(() => {
        throw new TypeError('bug');
      })
      .mockImplementationOnce(() => PRINCIPAL);
    const tokens = { verify } as unknown as TokenService;
    const request = requestWith('Bearer abc');
    expect(() => principalOf(tokens, request)).toThrow(TypeError);
    expect(principalOf(tokens, request)).toBe(PRINCIPAL);
  });
});

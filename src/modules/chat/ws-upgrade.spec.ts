import { JwtService } from '@nestjs/jwt';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TokenService } from '../../common/auth/token.service';
import type { Settings } from '../../config/settings';
import { checkUpgrade, originAllowed, type AuthenticatedRequest } from './ws-upgrade';

const SECRET = 'a-forty-character-secret-for-hs256-tests';
const HOST = 'chat.example.com:3000';
const ALLOWED = ['https://parent.example.com', 'https://app.example.org'];

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function hs256(claims: Record<string, unknown>, secret = SECRET): string {
  const input = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function goodToken(sub = 'user-1', roles: string[] = []): string {
  return hs256({ sub, roles, exp: Math.floor(Date.now() / 1000) + 3600 });
}

const EXPIRED_TOKEN = hs256({ sub: 'user-1', exp: Math.floor(Date.now() / 1000) - 60 });
const WRONG_SECRET_TOKEN = hs256(
  { sub: 'user-1', exp: Math.floor(Date.now() / 1000) + 3600 },
  `${SECRET}-other`,
);

function request(headers: IncomingHttpHeaders, url = '/chat/ws'): AuthenticatedRequest {
  return { headers: { host: HOST, ...headers }, url } as AuthenticatedRequest;
}

function tokenService(): TokenService {
  const settings = {
    jwt: { secret: SECRET, adminRoles: ['admin', 'chat_admin'], clockToleranceMs: 5000 },
  } as Settings;
  return new TokenService(new JwtService({}), settings);
}

describe('originAllowed', () => {
  it('should allow an origin when it is in the list', () => {
    for (const origin of ALLOWED) expect(originAllowed(origin, HOST, ALLOWED)).toBe(true);
  });

  it('should allow any origin when the list contains *', () => {
    fc.assert(
      fc.property(fc.webUrl(), (origin) => {
        expect(originAllowed(origin, HOST, ['*'])).toBe(true);
      }),
    );
  });

  it('should allow the origin when it is the same host as the Host header', () => {
    expect(originAllowed('http://chat.example.com:3000', HOST, [])).toBe(true);
    expect(originAllowed('https://chat.example.com:3000', HOST, [])).toBe(true);
    expect(originAllowed('http://localhost:3000', 'localhost:3000', [])).toBe(true);
  });

  it('should reject an origin when it is neither listed nor the same host', () => {
    expect(originAllowed('https://evil.example.net', HOST, ALLOWED)).toBe(false);
    expect(originAllowed('http://chat.example.com:4000', HOST, ALLOWED)).toBe(false);
    expect(originAllowed('https://parent.example.com.evil.net', HOST, ALLOWED)).toBe(false);
    expect(originAllowed('https://chat.example.com:3000', undefined, [])).toBe(false);
  });

  it('should reject a foreign origin for any host when the list is empty', () => {
    const host = fc.domain().filter((domain) => domain !== 'evil.example.net');
    fc.assert(
      fc.property(host, (domain) => {
        expect(originAllowed('https://evil.example.net', domain, [])).toBe(false);
      }),
    );
  });

  it('should reject an origin when it is not a URL', () => {
    expect(originAllowed('null', HOST, ALLOWED)).toBe(false);
    expect(originAllowed('not a url', HOST, [])).toBe(false);
  });
});

describe('checkUpgrade', () => {
  let tokens: TokenService;

  beforeEach(() => {
    tokens = tokenService();
  });

  it('should accept and set the principal when the Authorization header carries a good token', () => {
    const upgrade = request({ authorization: `Bearer ${goodToken('user-42', ['chat_admin'])}` });

    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({ ok: true });
    expect(upgrade.principal).toMatchObject({ userId: 'user-42', isAdmin: true, roles: ['chat_admin'] });
  });

  it('should accept and set the principal when ?token= carries a good token', () => {
    const upgrade = request({}, `/chat/ws?session_id=s1&token=${goodToken('user-7')}&last_seq=3`);

    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({ ok: true });
    expect(upgrade.principal?.userId).toBe('user-7');
  });

  // the deployment-edge audit of session 42: `?token=` lands in proxies' error logs; browsers offer
  // the token as a subprotocol instead (src/modules/chat/socket-token.ts)
  it('should accept a good token offered as a bearer. subprotocol, before ?token=', () => {
    const upgrade = request(
      { 'sec-websocket-protocol': `chatbox, bearer.${goodToken('user-9')}` },
      `/chat/ws?token=${EXPIRED_TOKEN}`,
    );
    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({ ok: true });
    expect(upgrade.principal?.userId).toBe('user-9');
    const expired = request({ 'sec-websocket-protocol': `chatbox, bearer.${EXPIRED_TOKEN}` });
    expect(checkUpgrade(expired, tokens, ALLOWED)).toMatchObject({ ok: false, status: 401 });
    const headerWins = request({
      authorization: `Bearer ${goodToken('from-header')}`,
      'sec-websocket-protocol': `chatbox, bearer.${EXPIRED_TOKEN}`,
    });
    expect(checkUpgrade(headerWins, tokens, ALLOWED).ok).toBe(true);
    expect(headerWins.principal?.userId).toBe('from-header');
  });

  it('should decide on the token alone when there is no Origin header', () => {
    const good = request({ authorization: `Bearer ${goodToken()}` });
    const bad = request({ authorization: `Bearer ${EXPIRED_TOKEN}` });

    expect(checkUpgrade(good, tokens, []).ok).toBe(true);
    expect(checkUpgrade(bad, tokens, [])).toEqual({ ok: false, status: 401, reason: expect.any(String) });
  });

  it('should accept when the Origin is listed and the token is good', () => {
    const upgrade = request({ origin: ALLOWED[1] }, `/chat/ws?token=${goodToken()}`);
    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({ ok: true });
    expect(upgrade.principal?.userId).toBe('user-1');
  });

  it('should accept when the Origin is the same host as the Host header', () => {
    const upgrade = request({ origin: `https://${HOST}`, authorization: `Bearer ${goodToken()}` });
    expect(checkUpgrade(upgrade, tokens, [])).toEqual({ ok: true });
  });

  it('should refuse with 403 before looking at the token when the Origin is foreign', () => {
    const verify = jest.spyOn(tokens, 'verify');
    const upgrade = request({ origin: 'https://evil.example.net', authorization: `Bearer ${goodToken()}` });

    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({
      ok: false,
      status: 403,
      reason: expect.any(String),
    });
    expect(verify).not.toHaveBeenCalled();
    expect(upgrade.principal).toBeUndefined();
  });

  it('should refuse with 403 when the Origin is foreign even if the token is also bad', () => {
    const upgrade = request({ origin: 'https://evil.example.net' }, '/chat/ws?token=garbage');
    expect(checkUpgrade(upgrade, tokens, ALLOWED)).toMatchObject({ ok: false, status: 403 });
  });

  it('should refuse with 401 and set no principal when the token is bad or missing', () => {
    const badRequests = [
      request({}),
      request({}, '/chat/ws?token='),
      request({}, '/chat/ws?token=garbage'),
      request({ authorization: `Bearer ${EXPIRED_TOKEN}` }),
      request({ authorization: `Bearer ${WRONG_SECRET_TOKEN}` }),
      request({ authorization: 'Basic dXNlcjpwYXNz' }),
      request({ origin: ALLOWED[0] }, `/chat/ws?token=${EXPIRED_TOKEN}`),
    ];
    for (const upgrade of badRequests) {
      expect(checkUpgrade(upgrade, tokens, ALLOWED)).toEqual({
        ok: false,
        status: 401,
        reason: expect.any(String),
      });
      expect(upgrade.principal).toBeUndefined();
    }
  });

  it('should use the header token when the header and ?token= disagree', () => {
    const headerWins = request(
      { authorization: `Bearer ${goodToken('from-header')}` },
      `/chat/ws?token=${EXPIRED_TOKEN}`,
    );
    expect(checkUpgrade(headerWins, tokens, ALLOWED).ok).toBe(true);
    expect(headerWins.principal?.userId).toBe('from-header');

    const headerLoses = request(
      { authorization: `Bearer ${EXPIRED_TOKEN}` },
      `/chat/ws?token=${goodToken()}`,
    );
    expect(checkUpgrade(headerLoses, tokens, ALLOWED)).toMatchObject({ ok: false, status: 401 });
  });

  it('should rethrow when token verification fails with something other than a domain error', () => {
    jest.spyOn(tokens, 'verify').mockImplementation(() => {
      throw new TypeError('bug');
    });
    expect(() => checkUpgrade(request({ authorization: 'Bearer x' }), tokens, ALLOWED)).toThrow(TypeError);
  });
});

import fc from 'fast-check';
import { SocketQuota } from './socket-quota';

describe('SocketQuota', () => {
  it('should refuse past the per-user bound with 429 and past the total with 503, and free on close', () => {
    const quota = new SocketQuota({ maxSocketsPerUser: 2, maxSockets: 3, connectRatePerUser: 100 });
    quota.opened('a');
    quota.opened('a');
    expect(quota.refusal('a')).toEqual({ status: 429, reason: 'Too many connections for this user' });
    expect(quota.refusal('b')).toBeUndefined();
    quota.opened('b');
    expect(quota.refusal('c')).toEqual({ status: 503, reason: 'Too many connections' });
    quota.closed('a');
    expect(quota.refusal('a')).toBeUndefined();
    expect(quota.refusal('c')).toBeUndefined();
  });

  it("should budget a user's connects: three seconds' worth at once, then the rate, with the wait", () => {
    const quota = new SocketQuota({ maxSocketsPerUser: 100, maxSockets: 100, connectRatePerUser: 2 });
    for (let index = 0; index < 6; index++) expect(quota.admit('a', 0)).toBeUndefined();
    expect(quota.admit('a', 0)).toEqual({
      status: 429,
      reason: 'Connecting too often',
      retryAfterSeconds: 1,
    });
    expect(quota.admit('b', 0)).toBeUndefined();
    expect(quota.admit('a', 499)?.status).toBe(429);
    expect(quota.admit('a', 500)).toBeUndefined();
  });

  it('should spend no connect on an upgrade a bound refuses', () => {
    const quota = new SocketQuota({ maxSocketsPerUser: 1, maxSockets: 100, connectRatePerUser: 1 });
    expect(quota.admit('a', 0)).toBeUndefined();
    quota.opened('a');
    for (let index = 0; index < 10; index++)
      expect(quota.admit('a', 0)?.reason).toBe('Too many connections for this user');
    quota.closed('a');
    // two of the three at once are left
    expect(quota.admit('a', 0)).toBeUndefined();
    expect(quota.admit('a', 0)).toBeUndefined();
    expect(quota.admit('a', 0)?.reason).toBe('Connecting too often');
  });

  it('should never count a close it did not see open', () => {
    const quota = new SocketQuota({ maxSocketsPerUser: 1, maxSockets: 1, connectRatePerUser: 100 });
    quota.closed('a');
    expect(quota.count()).toBe(0);
    quota.opened('a');
    expect(quota.refusal('b')?.status).toBe(503);
  });

  // a model: the counts are what the admitted opens minus the closes of open sockets say, and a
  // refusal is given exactly when a bound is reached
  it('should hold its counts and its refusals to a model under any sequence of opens and closes', () => {
    const step = fc.record({ open: fc.boolean(), user: fc.constantFrom('a', 'b', 'c', 'd') });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(step),
        (perUser, max, steps) => {
          const quota = new SocketQuota({
            maxSocketsPerUser: perUser,
            maxSockets: max,
            connectRatePerUser: 100,
          });
          const model = new Map<string, number>();
          const total = () => [...model.values()].reduce((sum, n) => sum + n, 0);
          for (const { open, user } of steps) {
            const held = model.get(user) ?? 0;
            if (open) {
              const expected = total() >= max ? 503 : held >= perUser ? 429 : undefined;
              expect(quota.refusal(user)?.status).toBe(expected);
              if (expected !== undefined) continue;
              quota.opened(user);
              model.set(user, held + 1);
            } else if (held > 0) {
              quota.closed(user);
              model.set(user, held - 1);
            }
            expect(quota.count(user)).toBe(model.get(user) ?? 0);
            expect(quota.count()).toBe(total());
          }
        },
      ),
    );
  });
});

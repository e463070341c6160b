import fc from 'fast-check';
import { aiLeaseTimes, RunLease } from './room-ai-lease';

describe(aiLeaseTimes.name, () => {
  it('should renew every quarter of the lease, sweep every half, and renew only runs younger than the lease less a renewal', () => {
    expect(aiLeaseTimes(20_000)).toEqual({
      leaseMs: 20_000,
      renewMs: 5_000,
      sweepMs: 10_000,
      renewableMs: 15_000,
    });
    fc.assert(
      fc.property(fc.integer({ min: 2_000, max: 3_600_000 }), (leaseMs) => {
        const times = aiLeaseTimes(leaseMs);
        // a renewal and a takeover never both match one document: their reads lie a renewal apart
        expect(times.leaseMs - times.renewableMs).toBe(times.renewMs);
        expect(times.renewMs).toBeGreaterThan(0);
        expect(times.renewMs * 2).toBeLessThanOrEqual(times.renewableMs);
      }),
    );
  });
});

describe(RunLease.name, () => {
  it('should be lost once no renewal matched for renewableMs, known from the clock alone (a pause)', () => {
    const lease = new RunLease(1_000, 15_000);
    expect(lease.lost(15_999)).toBe(false);
    lease.renewed(6_000, true);
    expect(lease.lost(20_999)).toBe(false);
    expect(lease.lost(21_000)).toBe(true);
    // a renewal answered late changes nothing: lost stays lost
    lease.renewed(20_000, true);
    expect(lease.lost(21_001)).toBe(true);
  });

  it('should be lost once a renewal matched nothing (the run was ended or replaced)', () => {
    const lease = new RunLease(0, 15_000);
    lease.renewed(5_000, false);
    expect(lease.lost(5_001)).toBe(true);
    lease.renewed(10_000, true);
    expect(lease.lost(10_001)).toBe(true);
  });

  // the model: lost iff some renewal matched nothing, or at some check the newest matched renewal
  // answered before it (or the start) was renewableMs old; answers may come out of order
  it('should agree with a model of renewals and checks in any order', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('renewed' as const), sentAt: fc.nat(100_000), matched: fc.boolean() }),
      fc.record({ kind: fc.constant('check' as const), at: fc.nat(100_000) }),
    );
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.integer({ min: 1, max: 30_000 }),
        fc.array(step),
        (start, renewableMs, steps) => {
          const lease = new RunLease(start, renewableMs);
          let confirmedAt = start;
          let lost = false;
          let now = start;
          for (const each of steps) {
            if (each.kind === 'renewed') {
              lease.renewed(each.sentAt, each.matched);
              if (!each.matched) lost = true;
              else if (!lost) confirmedAt = Math.max(confirmedAt, each.sentAt);
            } else {
              now = Math.max(now, each.at);
              if (now - confirmedAt >= renewableMs) lost = true;
              expect(lease.lost(now)).toBe(lost);
            }
          }
        },
      ),
    );
  });
});

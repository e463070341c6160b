import fc from 'fast-check';
import { RenewedHold } from './lock';

describe(RenewedHold.name, () => {
  it('should be lost a ttl after the last confirmed renewal was sent, or once one found the key gone', () => {
    const hold = new RenewedHold(5_000, 100);
    expect(hold.lost(5_099)).toBe(false);
    // sent at 3 000, answered later: held until 8 000
    hold.renewed(3_000, true, 4_000);
    expect(hold.lost(7_999)).toBe(false);
    expect(hold.lost(8_000)).toBe(true);
    // lost stays lost, whatever answers late
    hold.renewed(7_000, true, 8_100);
    expect(hold.lost(7_500)).toBe(true);
    const refused = new RenewedHold(5_000, 0);
    refused.renewed(1_000, false, 1_001);
    expect(refused.lost(1_001)).toBe(true);
  });

  it('should say lost exactly as the model of its renewals does (property)', () => {
    const ttl = 1_000;
    const step = fc.record({ at: fc.nat({ max: 700 }), sentBack: fc.nat({ max: 900 }), held: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 20 }), (steps) => {
        const hold = new RenewedHold(ttl, 0);
        let now = 0;
        let confirmedAt = 0;
        let lost = false;
        for (const { at, sentBack, held } of steps) {
          now += at;
          // a renewal sent a while ago answers now
          const sentAt = Math.max(0, now - sentBack);
          if (!lost && now - confirmedAt >= ttl) lost = true;
          if (!lost) {
            if (held) confirmedAt = Math.max(confirmedAt, sentAt);
            else lost = true;
          }
          hold.renewed(sentAt, held, now);
          if (!lost && now - confirmedAt >= ttl) lost = true;
          expect(hold.lost(now)).toBe(lost);
        }
      }),
    );
  });

  it('should be lost when the hold it also takes is', () => {
    let inner = false;
    const hold = new RenewedHold(5_000, 0, { lost: () => inner });
    expect(hold.lost(10)).toBe(false);
    inner = true;
    expect(hold.lost(10)).toBe(true);
  });
});

import fc from 'fast-check';
import { ReservationWatch, type Clocks } from './reservation-watch';

const LIFE = 12_500;

// clocks the test moves: both advance together unless the wall clock is set apart
function testClocks(): Clocks & { advance(ms: number): void; setWallBy(ms: number): void } {
  let wall = 1_700_000_000_000;
  let mono = 1_000;
  return {
    wall: () => wall,
    mono: () => mono,
    advance: (ms) => {
      wall += ms;
      mono += ms;
    },
    setWallBy: (ms) => (wall += ms),
  };
}

describe('ReservationWatch', () => {
  it('should keep the reservation while touches are confirmed every beat', () => {
    const clocks = testClocks();
    const watch = new ReservationWatch(LIFE, clocks);
    for (let beat = 0; beat < 10; beat++) {
      clocks.advance(5_000);
      const sent = watch.now();
      clocks.advance(50);
      watch.confirm(sent);
    }
    expect(watch.mayHaveLapsed(5_000)).toBe(false);
  });

  // the uploads audit of session 44: the instance paused 14 s, then beat again and finished
  it('should remember a lapse once a later touch is confirmed', () => {
    const clocks = testClocks();
    const watch = new ReservationWatch(LIFE, clocks);
    clocks.advance(1_500);
    expect(watch.mayHaveLapsed()).toBe(false);
    clocks.advance(14_000);
    const sent = watch.now();
    clocks.advance(20);
    watch.confirm(sent);
    clocks.advance(100);
    expect(watch.mayHaveLapsed(5_000)).toBe(true);
  });

  it('should see a pause the wall clock hides (set back meanwhile) on the monotonic clock', () => {
    const clocks = testClocks();
    const watch = new ReservationWatch(LIFE, clocks);
    clocks.advance(14_000);
    clocks.setWallBy(-14_000);
    expect(watch.mayHaveLapsed()).toBe(true);
  });

  it('should count a touch never confirmed (the store not answering) as no touch', () => {
    const clocks = testClocks();
    const watch = new ReservationWatch(LIFE, clocks);
    clocks.advance(5_000);
    watch.now(); // sent, never confirmed
    clocks.advance(8_000);
    expect(watch.mayHaveLapsed()).toBe(true);
  });

  it('should judge a touch confirmed late by when it was confirmed (others saw the one before until then)', () => {
    const clocks = testClocks();
    const watch = new ReservationWatch(LIFE, clocks);
    clocks.advance(5_000);
    const sent = watch.now();
    clocks.advance(9_000);
    watch.confirm(sent);
    expect(watch.mayHaveLapsed()).toBe(true);
  });

  // the model: the room lapsed iff some gap between the reservation, the confirmations in the order
  // they came, and now was longer than the life; a touch sent before the last confirmed one counts
  // for nothing
  it('should say lapsed exactly when a gap between confirmed touches, or to now, passed the life', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 9_000 }) }),
      fc.record({ kind: fc.constant('send' as const) }),
      fc.record({ kind: fc.constant('confirm' as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.integer({ min: 0, max: 6_000 }), (steps, margin) => {
        const clocks = testClocks();
        const watch = new ReservationWatch(LIFE, clocks);
        const sent: number[] = [];
        let confirmed = clocks.mono();
        let lapsed = false;
        for (const s of steps) {
          if (s.kind === 'wait') clocks.advance(s.ms);
          else if (s.kind === 'send') sent.push(clocks.mono());
          else if (sent.length > 0) {
            const at = sent.splice(s.which % sent.length, 1)[0]!;
            if (clocks.mono() - confirmed > LIFE) lapsed = true;
            confirmed = Math.max(confirmed, at);
            watch.confirm({ wall: clocks.wall() - (clocks.mono() - at), mono: at });
          }
        }
        const age = clocks.mono() - confirmed;
        expect(watch.mayHaveLapsed(margin)).toBe(lapsed || age > LIFE - margin);
      }),
    );
  });
});

import fc from 'fast-check';
import { StopsAfterLoss } from './reply-stops';

// a stop of a reply dropped for its lost lease (docs/protocol.md, "Every acked turn ends")
describe(StopsAfterLoss.name, () => {
  it('should keep a user stop only for a session whose reply was dropped or is being cut for its lease, until the next answer takes it', () => {
    const stops = new StopsAfterLoss();
    // no drop: nothing kept
    stops.stop('a', 1, 'stopped', false);
    expect(stops.take('a')).toBeUndefined();
    // cut, not recorded yet
    stops.stop('b', 2, 'stopped', true);
    expect(stops.take('b')).toEqual({ at: 2, reason: 'stopped' });
    expect(stops.take('b')).toBeUndefined();
    // dropped, then stopped
    stops.dropped('c', 10);
    stops.stop('c', 11, 'stopped', false);
    expect(stops.take('c')).toEqual({ at: 11, reason: 'stopped' });
    // the drop is over once its turn was asked again: a later stop is an ordinary one
    stops.stop('c', 12, 'stopped', false);
    expect(stops.take('c')).toBeUndefined();
  });

  it('should hold, over any sequence, a stop for exactly the sessions dropped and not yet taken, and forget drops a minute old', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('dropped' as const), session: fc.constantFrom('s1', 's2', 's3') }),
      fc.record({
        kind: fc.constant('stop' as const),
        session: fc.constantFrom('s1', 's2', 's3'),
        cut: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('take' as const), session: fc.constantFrom('s1', 's2', 's3') }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const stops = new StopsAfterLoss();
        // the model: when each session was dropped, and its stop
        const lost = new Map<string, number>();
        const kept = new Map<string, number>();
        let now = 0;
        for (const s of steps) {
          if (s.kind === 'wait') now += s.ms;
          else if (s.kind === 'dropped') {
            for (const [id, at] of lost)
              if (now - at > 60_000) {
                lost.delete(id);
                kept.delete(id);
              }
            lost.set(s.session, now);
            stops.dropped(s.session, now);
          } else if (s.kind === 'stop') {
            if (s.cut || lost.has(s.session)) kept.set(s.session, now);
            stops.stop(s.session, now, 'stopped', s.cut);
          } else {
            const expected = kept.get(s.session);
            lost.delete(s.session);
            kept.delete(s.session);
            expect(stops.take(s.session)?.at).toBe(expected);
          }
        }
        expect(stops.size).toBe(lost.size + kept.size);
      }),
    );
  });
});

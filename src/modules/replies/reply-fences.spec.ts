import { newGeneration, type Generation } from './reply-generation';
import { ReplyFences } from './reply-fences';

const HOUR = 60 * 60 * 1000;

function decided(sessionId: string, decidedAt: number): Generation {
  return { sessionId, decidedAt, controller: new AbortController() } as unknown as Generation;
}

describe(ReplyFences.name, () => {
  // The reply lease lost (a pause past it: docs/protocol.md, "Every acked turn ends"): the reply stops
  // before its next piece, as `lease_lost`, and a takeover's stop stays a takeover's
  it('should cut a reply at its next piece once its lease is lost, and keep the first reason', () => {
    let lost = false;
    const fences = new ReplyFences(() => lost);
    const generation = newGeneration('s1', 'demo', 'c1', Date.now() - 10);
    expect(fences.cut(generation)).toBe(false);
    lost = true;
    expect(fences.cut(generation)).toBe(true);
    expect(generation.controller.signal.reason).toBe('lease_lost');
    const taken = newGeneration('s1', 'demo', 'c2', Date.now() - 10);
    fences.takeoverStarted('s1', 1, undefined, Date.now());
    expect(fences.cut(taken)).toBe(true);
    expect(taken.controller.signal.reason).toBe('takeover');
  });

  // Found by the memory-leak black-box audit in session 43: a fence was kept per session ever taken
  // over, those older than an hour going only once 10,000 were held. Now they go at every takeover,
  // and a fence of the last hour still keeps a reply decided before its takeover from showing.
  it('should drop the fences of takeovers older than an hour at the next takeover, and keep the others fencing', () => {
    const fences = new ReplyFences();
    const held = () => (fences as unknown as { fences: Map<string, unknown> }).fences.size;
    const start = 1_000_000;
    for (let index = 0; index < 100; index++) {
      fences.takeoverStarted(`old-${index}`, 1, undefined, start + index);
      fences.takeoverClosed(`old-${index}`, 1, start + index + 1_000);
    }
    // taken over again later: its fence is the newer takeover's, and stays
    fences.takeoverStarted('old-5', 2, undefined, start + HOUR / 2);
    fences.takeoverStarted('recent', 1, undefined, start + HOUR);
    expect(held()).toBe(101);
    fences.takeoverStarted('now', 1, undefined, start + HOUR + 200);
    expect(held()).toBe(3);
    // a reply decided before a takeover of the last hour still does not show
    expect(fences.fenced(decided('old-5', start + HOUR / 2 - 1), start + HOUR + 200)).toBe(true);
    expect(fences.fenced(decided('recent', start + HOUR - 1), start + HOUR + 200)).toBe(true);
    // one of a session whose fence went: nothing fences it (its takeover ended an hour ago)
    expect(fences.fenced(decided('old-7', start + 10), start + HOUR + 200)).toBe(false);
  });
});

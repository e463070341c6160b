import { newGeneration } from './reply-generation';
import { ReplyFences } from './reply-fences';

// The reply lease lost (a pause past it: docs/protocol.md, "Every acked turn ends"): the reply stops
// before its next piece, as `lease_lost`, and a takeover's stop stays a takeover's
describe(ReplyFences.name, () => {
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
});

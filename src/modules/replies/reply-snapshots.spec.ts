import fc from 'fast-check';
import type { Bus } from '../../infra/bus/bus';
import type { ReplyLeases } from '../../infra/lock/reply-lease';
import { newGeneration, type Generation } from './reply-generation';
import { ReplySnapshots } from './reply-snapshots';

// Two instances on one bus: each publish reaches the other (as Redis pub/sub does), never its sender.
function pair(held: boolean) {
  const handlers = new Map<string, (payload: unknown, from: string) => void>();
  const bus = (id: string): Bus =>
    ({
      instanceId: id,
      kind: 'redis',
      publish: (_topic: string, payload: unknown) => {
        for (const [other, handler] of handlers)
          if (other !== id) setImmediate(() => handler(JSON.parse(JSON.stringify(payload)), id));
      },
    }) as unknown as Bus;
  const leases = { heldElsewhere: () => Promise.resolve(held) } as unknown as ReplyLeases;
  const state = new Map<string, { answering: boolean; shown?: Generation }>();
  const make = (id: string) => {
    const snapshots = new ReplySnapshots(
      'replies',
      bus(id),
      leases,
      (session) => state.get(`${id}:${session}`) ?? { answering: false },
    );
    handlers.set(id, (payload, from) => snapshots.receive(payload as Record<string, unknown>, from));
    return snapshots;
  };
  return { a: make('a'), b: make('b'), state };
}

describe(ReplySnapshots.name, () => {
  it('should bring the text so far of the reply streaming on the other instance', async () => {
    const { a, state } = pair(true);
    const generation = newGeneration('s', 'demo', 'c1');
    generation.text = 'so far';
    state.set('b:s', { answering: true, shown: generation });
    expect(await a.elsewhere('s', 1_000)).toEqual({
      replyId: generation.replyId,
      clientId: 'c1',
      modelId: 'demo',
      text: 'so far',
    });
  });

  it('should bring nothing while the reply there shows nothing yet, and not ask when no other instance answers the session', async () => {
    const { a, state } = pair(true);
    state.set('b:s', { answering: true });
    expect(await a.elsewhere('s', 1_000)).toBeUndefined();
    const none = pair(false);
    const asked = Date.now();
    expect(await none.a.elsewhere('s', 5_000)).toBeUndefined();
    expect(Date.now() - asked).toBeLessThan(1_000);
  });

  it('should give up after its wait when nobody answers', async () => {
    const { a } = pair(true);
    expect(await a.elsewhere('s', 50)).toBeUndefined();
  });

  it('should ignore whatever else comes on the topic', () => {
    const { a } = pair(true);
    fc.assert(
      fc.property(fc.object({ withNullPrototype: false }), fc.string(), (message, from) => {
        expect(() => a.receive(message as Record<string, unknown>, from)).not.toThrow();
      }),
    );
  });
});

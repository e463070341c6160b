import fc from 'fast-check';
import { BlockList, type BlockOutcome } from './block-list';

const USERS = ['bob', 'carol', 'dan'];
const OK: BlockOutcome = { ok: true };
const REFUSED: BlockOutcome = { ok: false, code: 'RATE_LIMITED', unknown: false };
const LOST: BlockOutcome = { ok: false, code: 'NETWORK', unknown: true };

// What happens next: the user's Block or Unblock; a write reaching the server (stored and answered,
// refused, applied with its answer lost, or lost before the server); an answer reaching the client;
// another device of the user blocking or unblocking; a read of the list asked, read by the server,
// answered, or failed.
type Step =
  | { kind: 'want'; user: string; blocked: boolean }
  | { kind: 'deliver'; pick: number; mode: 'ok' | 'refused' | 'lost' | 'dropped' }
  | { kind: 'answer'; pick: number }
  | { kind: 'other'; user: string; blocked: boolean }
  | { kind: 'ask' }
  | { kind: 'serve'; pick: number }
  | { kind: 'reply'; pick: number }
  | { kind: 'readFails'; pick: number };

const user = fc.constantFrom(...USERS);
const pick = fc.nat(20);
const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('want' as const), user, blocked: fc.boolean() }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      pick,
      mode: fc.constantFrom(
        'ok' as const,
        'ok' as const,
        'refused' as const,
        'lost' as const,
        'dropped' as const,
      ),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('answer' as const), pick }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('other' as const), user, blocked: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('ask' as const) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('serve' as const), pick }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('reply' as const), pick }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('readFails' as const), pick }), weight: 1 },
);

// The server and the wire around one BlockList, driven as RoomBlocks drives it: a write's answer
// that is unknown asks for a read; a write the list returns goes out.
class World {
  readonly blocks = new BlockList();
  readonly server = new Set<string>();
  writes: Array<{ user: string; blocked: boolean }> = [];
  answers: Array<{ user: string; outcome: BlockOutcome }> = [];
  reads: Array<{ asked: number; snapshot?: string[] }> = [];

  want(user: string, blocked: boolean): void {
    const send = this.blocks.want(user, blocked);
    if (send !== null) this.writes.push({ user, blocked: send });
  }

  deliver(index: number, mode: 'ok' | 'refused' | 'lost' | 'dropped'): void {
    const [write] = this.writes.splice(index, 1);
    if (mode === 'ok' || mode === 'lost') {
      if (write.blocked) this.server.add(write.user);
      else this.server.delete(write.user);
    }
    const outcome = mode === 'ok' ? OK : mode === 'refused' ? REFUSED : LOST;
    this.answers.push({ user: write.user, outcome });
  }

  answer(index: number): void {
    const [answer] = this.answers.splice(index, 1);
    const next = this.blocks.answered(answer.user, answer.outcome);
    if (!answer.outcome.ok && answer.outcome.unknown) this.ask();
    if (next !== null) this.writes.push({ user: answer.user, blocked: next });
  }

  ask(): void {
    this.reads.push({ asked: this.blocks.readAsked() });
  }

  serve(index: number): void {
    this.reads[index].snapshot ??= [...this.server];
  }

  reply(index: number): void {
    const [read] = this.reads.splice(index, 1);
    this.blocks.read(read.snapshot ?? [...this.server], read.asked);
  }

  // every write stored and answered, every read served and answered (newest first: an older read
  // answering last must change nothing it should not), and the read the client asks again when
  // one failed or a write went unanswered (RoomsClient.refresh)
  drain(): void {
    while (this.writes.length + this.answers.length > 0) {
      while (this.writes.length > 0) this.deliver(0, 'ok');
      while (this.answers.length > 0) this.answer(0);
    }
    while (this.reads.length > 0) this.reply(this.reads.length - 1);
    if (this.blocks.needsRead()) {
      this.ask();
      this.reply(0);
    }
    expect(this.blocks.needsRead()).toBe(false);
  }

  // what holds after every step
  check(): void {
    const shown = this.blocks.list();
    expect(new Set(shown).size).toBe(shown.length);
    expect(new Set(shown)).toEqual(new Set(USERS.filter((id) => this.blocks.has(id))));
    for (const id of USERS) {
      // one write per user on its way at a time, and it shows as pending
      const onTheWay =
        this.writes.filter((write) => write.user === id).length +
        this.answers.filter((answer) => answer.user === id).length;
      expect(onTheWay).toBeLessThanOrEqual(1);
      expect(this.blocks.pending(id)).toBe(onTheWay === 1);
    }
  }
}

describe(BlockList.name, () => {
  it('should show the user block at once, keep one write per user on the wire, and end as the server holds it, under any order of writes, answers, reads and failures', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const world = new World();
        // per user: the newest Block/Unblock made here, and whether another device changed them
        const lastWish = new Map<string, boolean>();
        const changedElsewhere = new Set<string>();
        for (const next of steps) {
          switch (next.kind) {
            case 'want':
              world.want(next.user, next.blocked);
              lastWish.set(next.user, next.blocked);
              expect(world.blocks.has(next.user)).toBe(next.blocked);
              expect(world.blocks.errorOf(next.user)).toBeUndefined();
              break;
            case 'deliver':
              if (world.writes.length > 0) world.deliver(next.pick % world.writes.length, next.mode);
              break;
            case 'answer':
              if (world.answers.length > 0) world.answer(next.pick % world.answers.length);
              break;
            case 'other':
              if (next.blocked) world.server.add(next.user);
              else world.server.delete(next.user);
              changedElsewhere.add(next.user);
              break;
            case 'ask':
              world.ask();
              break;
            case 'serve':
              if (world.reads.length > 0) world.serve(next.pick % world.reads.length);
              break;
            case 'reply':
              if (world.reads.length > 0) world.reply(next.pick % world.reads.length);
              break;
            case 'readFails':
              if (world.reads.length > 0) {
                const [read] = world.reads.splice(next.pick % world.reads.length, 1);
                world.blocks.readFailed('NETWORK', read.asked);
              }
              break;
          }
          world.check();
        }

        world.drain();
        world.check();
        for (const id of USERS) {
          if (changedElsewhere.has(id)) continue;
          // only this device changed the user: what it shows is what the server holds
          expect(world.blocks.has(id)).toBe(world.server.has(id));
          // and that is the user's newest Block or Unblock, unless it was refused (and says so)
          const wish = lastWish.get(id);
          if (wish === undefined) continue;
          const refused = world.blocks.errorOf(id);
          if (refused === undefined) expect(world.server.has(id)).toBe(wish);
          else {
            expect(refused.blocked).toBe(wish);
            expect(world.blocks.has(id)).toBe(!wish);
          }
        }

        // a fresh read: every user as the server holds them, other devices' changes too
        world.ask();
        world.drain();
        world.check();
        expect(new Set(world.blocks.list())).toEqual(world.server);
        expect(world.blocks.loaded).toBe(true);
        expect(world.blocks.loadError).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('should not let a read asked before a block was stored take the block back', () => {
    const blocks = new BlockList();
    const asked = blocks.readAsked();
    expect(blocks.want('bob', true)).toBe(true);
    expect(blocks.answered('bob', OK)).toBeNull();
    // the server read its list before it stored the block
    blocks.read([], asked);
    expect(blocks.has('bob')).toBe(true);
    expect(blocks.list()).toEqual(['bob']);
    // a read asked after the answer is the truth (unblocked on another device since)
    blocks.read([], blocks.readAsked());
    expect(blocks.has('bob')).toBe(false);
  });

  it('should ignore a read answered after a newer one', () => {
    const blocks = new BlockList();
    const older = blocks.readAsked();
    const newer = blocks.readAsked();
    blocks.read(['bob', 'carol'], newer);
    blocks.read(['bob'], older);
    expect(blocks.list()).toEqual(['bob', 'carol']);
    // nor does its failure count as the list's
    blocks.readFailed('NETWORK', older);
    expect(blocks.loadError).toBeNull();
  });

  it('should send a change of mind after the write on its way, and nothing when the mind changed back', () => {
    const blocks = new BlockList();
    expect(blocks.want('bob', true)).toBe(true);
    expect(blocks.want('bob', false)).toBeNull();
    expect(blocks.has('bob')).toBe(false);
    expect(blocks.pending('bob')).toBe(true);
    // the block was stored: the unblock goes now
    expect(blocks.answered('bob', OK)).toBe(false);
    expect(blocks.has('bob')).toBe(false);
    expect(blocks.answered('bob', OK)).toBeNull();
    expect(blocks.pending('bob')).toBe(false);
    // blocked, unblocked and blocked again before the first answer: nothing more goes
    expect(blocks.want('carol', true)).toBe(true);
    expect(blocks.want('carol', false)).toBeNull();
    expect(blocks.want('carol', true)).toBeNull();
    expect(blocks.answered('carol', OK)).toBeNull();
    expect(blocks.has('carol')).toBe(true);
    expect(blocks.pending('carol')).toBe(false);
  });

  it('should send a change of mind after a write whose answer was lost, whatever that write did', () => {
    const blocks = new BlockList();
    blocks.want('bob', true);
    blocks.want('bob', false);
    expect(blocks.answered('bob', LOST)).toBe(false);
    expect(blocks.has('bob')).toBe(false);
    expect(blocks.answered('bob', OK)).toBeNull();
    expect(blocks.has('bob')).toBe(false);
  });

  it('should undo a refused block and say why, until the next try', () => {
    const blocks = new BlockList();
    blocks.want('bob', true);
    expect(blocks.answered('bob', REFUSED)).toBeNull();
    expect(blocks.has('bob')).toBe(false);
    expect(blocks.errorOf('bob')).toEqual({ blocked: true, code: 'RATE_LIMITED' });
    expect(blocks.want('bob', true)).toBe(true);
    expect(blocks.errorOf('bob')).toBeUndefined();
  });

  it('should take back the error of a block whose answer was lost once a read finds it stored', () => {
    const blocks = new BlockList();
    blocks.want('bob', true);
    blocks.answered('bob', LOST);
    expect(blocks.errorOf('bob')).toEqual({ blocked: true, code: 'NETWORK' });
    blocks.read(['bob'], blocks.readAsked());
    expect(blocks.has('bob')).toBe(true);
    expect(blocks.errorOf('bob')).toBeUndefined();
  });

  it('should leave out what is not a user id in a read', () => {
    const blocks = new BlockList();
    blocks.read(['bob', 7, null, { id: 'x' }, 'bob'], blocks.readAsked());
    expect(blocks.list()).toEqual(['bob']);
  });
});

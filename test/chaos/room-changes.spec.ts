import fc from 'fast-check';
import { ChangeLedger, type StoredChanges } from './room-changes';

// A client's operations on one thing, as the chaos clients send them: each resent until acked before
// the next goes out, so all but the last are acked.
const operations = <T>(value: fc.Arbitrary<T>) =>
  fc.record({ values: fc.array(value, { minLength: 1, maxLength: 8 }), lastAcked: fc.boolean() });

function quiet(): { lines: string[]; problem: (line: string) => void } {
  const lines: string[] = [];
  return { lines, problem: (line) => lines.push(line) };
}

function message(content: string | undefined, extra: StoredChanges['metadata'] = {}): StoredChanges {
  return { message_id: 'm1', seq: 1, user_id: 'u1', content, metadata: extra };
}

describe(ChangeLedger.name, () => {
  it('should accept every text a store that applies the operations in order may hold', () => {
    fc.assert(
      fc.property(operations(fc.constant(null)), fc.boolean(), ({ values, lastAcked }, lastLanded) => {
        const ledger = new ChangeLedger();
        ledger.stored('m1', 'original');
        const texts = values.map((_, index) => `edit ${index}`);
        texts.forEach((text, index) => {
          const sent = ledger.editSent('m1', text);
          if (index < texts.length - 1 || lastAcked) ledger.editAcked('m1', sent);
        });
        // the last edit landed when acked; unacked, it may have or not
        const stored = lastAcked || lastLanded ? texts.at(-1)! : (texts.at(-2) ?? 'original');
        const edited = stored !== 'original';
        const output = quiet();
        const counts = ledger.check(
          [message(stored, edited ? { edited_at: '2026-01-01T00:00:00Z' } : {})],
          output.problem,
        );
        expect(output.lines).toEqual([]);
        expect(counts).toEqual({
          contentWrong: 0,
          editedWrong: 0,
          reactionsWrong: 0,
          reactionsDoubled: 0,
          deletedWrong: 0,
          deleteLost: 0,
        });
      }),
    );
  });

  it('should count a copy of an earlier edit that lands after a later one was acked', () => {
    fc.assert(
      fc.property(
        operations(fc.constant(null)).filter(({ values }) => values.length >= 2),
        fc.nat(),
        ({ values, lastAcked }, pickStale) => {
          const ledger = new ChangeLedger();
          ledger.stored('m1', 'original');
          const texts = values.map((_, index) => `edit ${index}`);
          texts.forEach((text, index) => {
            const sent = ledger.editSent('m1', text);
            if (index < texts.length - 1 || lastAcked) ledger.editAcked('m1', sent);
          });
          const acked = lastAcked ? texts.length - 1 : texts.length - 2;
          // the original or an edit before the last acked one, landing late
          const stale = pickStale % (acked + 1);
          const stored = stale === 0 ? 'original' : texts[stale - 1];
          const counts = ledger.check([message(stored, { edited_at: 'x' })], quiet().problem);
          expect(counts.contentWrong).toBe(1);
        },
      ),
    );
  });

  it('should accept the reaction a store that applies the operations in order holds, and count any other', () => {
    fc.assert(
      fc.property(operations(fc.boolean()), fc.boolean(), ({ values, lastAcked }, lastLanded) => {
        const ledger = new ChangeLedger();
        ledger.stored('m1', 'text');
        values.forEach((add, index) => {
          const sent = ledger.reactSent('m1', 'u2', '👍', add);
          if (index < values.length - 1 || lastAcked) ledger.reactAcked('m1', 'u2', '👍', sent);
        });
        const landed = lastAcked || lastLanded ? values : values.slice(0, -1);
        const present = landed.at(-1) ?? false;
        const stored = message('text', present ? { reactions: { '👍': ['u2'] } } : {});
        expect(ledger.check([stored], quiet().problem).reactionsWrong).toBe(0);
        // the opposite is wrong, unless the last operation was not acked and would leave it so
        const flipped = message('text', present ? {} : { reactions: { '👍': ['u2'] } });
        const undecided = !lastAcked && values.at(-1) !== (values.at(-2) ?? false);
        expect(ledger.check([flipped], quiet().problem).reactionsWrong).toBe(undecided ? 0 : 1);
      }),
    );
  });

  it('should count a reaction never sent, a user listed twice and an edited mark on an unedited text', () => {
    const ledger = new ChangeLedger();
    ledger.stored('m1', 'text');
    ledger.reactAcked('m1', 'u2', '🎉', ledger.reactSent('m1', 'u2', '🎉', true));
    const counts = ledger.check(
      [
        message('text', { edited_at: 'x', reactions: { '🎉': ['u2', 'u2'], '👍': ['u3'] } }),
        { message_id: 'm2', seq: 2, user_id: 'u1', content: 'other', metadata: { edited_at: 'x' } },
      ],
      quiet().problem,
    );
    expect(counts).toEqual({
      contentWrong: 0,
      editedWrong: 2,
      reactionsWrong: 1,
      reactionsDoubled: 1,
      deletedWrong: 0,
      deleteLost: 0,
    });
  });

  it('should count a message read as deleted that nobody deleted, and an emptied one as a wrong text', () => {
    const ledger = new ChangeLedger();
    ledger.stored('m1', 'text');
    const deleted = ledger.check([message(undefined, { deleted: true })], quiet().problem);
    expect(deleted).toMatchObject({ deletedWrong: 1, contentWrong: 0 });
    expect(ledger.check([message(undefined)], quiet().problem)).toMatchObject({
      contentWrong: 1,
      deletedWrong: 0,
    });
  });

  // edits before the delete (acked or not, any of them may be the late copy), reactions too: once a
  // delete is acked the message must read as deleted, bare; an unacked delete may or may not have landed
  it('should accept a deleted message after an acked delete, whatever edits and reactions came before', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 4 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (edits, reacted, acked, landed) => {
          const ledger = new ChangeLedger();
          ledger.stored('m1', 'original');
          for (let index = 0; index < edits; index++) ledger.editSent('m1', `edit ${index}`);
          if (reacted) ledger.reactAcked('m1', 'u2', '🎉', ledger.reactSent('m1', 'u2', '🎉', true));
          const sent = ledger.deleteSent('m1', 'u1');
          if (acked) ledger.deleteAcked('m1', sent);
          const stored =
            acked || landed
              ? message(undefined, { deleted: true })
              : message('original', reacted ? { reactions: { '🎉': ['u2'] } } : {});
          const output = quiet();
          expect(ledger.check([stored], output.problem)).toMatchObject({ deletedWrong: 0, deleteLost: 0 });
          expect(output.lines).toEqual([]);
          expect(ledger.acked().deletes).toBe(acked ? 1 : 0);
        },
      ),
    );
  });

  it('should count an acked delete that reads as not deleted, or deleted with its text or reactions back', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<StoredChanges['metadata']>(
          {},
          { edited_at: '2026-01-01T00:00:00Z' },
          { deleted: true, edited_at: '2026-01-01T00:00:00Z' },
          { deleted: true, reactions: { '👍': ['u2'] } },
        ),
        fc.boolean(),
        (metadata, withText) => {
          const ledger = new ChangeLedger();
          ledger.stored('m1', 'original');
          ledger.deleteAcked('m1', ledger.deleteSent('m1', 'owner'));
          const text = metadata?.deleted && !withText ? undefined : 'original';
          expect(ledger.check([message(text, metadata)], quiet().problem).deleteLost).toBe(1);
        },
      ),
    );
  });
});

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { reactionIdOf } from './reactions.repository';
import { dedupKeyOf } from './room-message-records';
import { reportIdOf } from './reports.repository';
import { dmRoomId, plainDmRoomId } from './room-rules';
import { participantId } from './room.types';

// ids dense in the separators of the keys (`|`, NUL) and the escape, and any strings at all
const id = fc.oneof(
  fc.string({ unit: fc.constantFrom('|', '\\', '\u0000', 'u', 'x', '1'), maxLength: 5 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const roomId = fc.uuid();

// The composed keys of rooms (compositeKey): one tuple per key, and the key each had before for
// every tuple that could not collide (stored documents and a rolling deploy's other version).
describe('room keys', () => {
  it('should give two sends the same dedup key only when room, sender and client_id are the same (property)', () => {
    fc.assert(
      fc.property(roomId, id, id, id, id, (room, senderA, clientA, senderB, clientB) => {
        const same = senderA === senderB && clientA === clientB;
        expect(dedupKeyOf(room, senderA, clientA) === dedupKeyOf(room, senderB, clientB)).toBe(same);
      }),
      { numRuns: 3000 },
    );
    expect(dedupKeyOf('r', 'u', 'x|1')).not.toBe(dedupKeyOf('r', 'u|x', '1'));
  });

  it('should keep the dedup key of a sender without `|` or `\\` as it was (property)', () => {
    fc.assert(
      fc.property(roomId, id, id, (room, sender, client) => {
        fc.pre(!sender.includes('|') && !sender.includes('\\'));
        expect(dedupKeyOf(room, sender, client)).toBe(`${room}|${sender}|${client}`);
      }),
    );
  });

  it('should give each (message, user, emoji) its own reaction id (property)', () => {
    fc.assert(
      fc.property(roomId, id, id, id, id, (message, userA, emojiA, userB, emojiB) => {
        const a = reactionIdOf({ message_id: message, user_id: userA, emoji: emojiA });
        const b = reactionIdOf({ message_id: message, user_id: userB, emoji: emojiB });
        expect(a === b).toBe(userA === userB && emojiA === emojiB);
      }),
      { numRuns: 3000 },
    );
  });

  // one report per (room, message, reporter): a repeat finds the first on its `_id`, and no two
  // reporters (or messages) share one
  it('should give each (room, message, reporter) its own report id (property)', () => {
    fc.assert(
      fc.property(roomId, id, id, id, id, (room, messageA, reporterA, messageB, reporterB) => {
        const same = messageA === messageB && reporterA === reporterB;
        expect(reportIdOf(room, messageA, reporterA) === reportIdOf(room, messageB, reporterB)).toBe(same);
      }),
      { numRuns: 3000 },
    );
  });

  it('should give each pair of users its own direct message, the same either way round (property)', () => {
    fc.assert(
      fc.property(id, id, id, id, (a, b, c, d) => {
        const samePair = (a === c && b === d) || (a === d && b === c);
        expect(dmRoomId(a, b) === dmRoomId(c, d)).toBe(samePair);
        expect(dmRoomId(a, b)).toBe(dmRoomId(b, a));
      }),
      { numRuns: 3000 },
    );
    // the collision the plain join made
    expect(plainDmRoomId('a\u0000b', 'c')).toBe(plainDmRoomId('a', 'b\u0000c'));
    expect(dmRoomId('a\u0000b', 'c')).not.toBe(dmRoomId('a', 'b\u0000c'));
  });

  it('should keep the id of every direct message whose first user holds neither NUL nor `\\` (property)', () => {
    const before = (a: string, b: string) => {
      const [first, second] = [a, b].sort();
      return `dm_${createHash('sha256').update(`${first}\u0000${second}`).digest('base64url').slice(0, 32)}`;
    };
    fc.assert(
      fc.property(id, id, (a, b) => {
        expect(plainDmRoomId(a, b)).toBe(before(a, b));
        const [first] = [a, b].sort();
        if (!first.includes('\u0000') && !first.includes('\\')) expect(dmRoomId(a, b)).toBe(before(a, b));
      }),
    );
  });

  it('should keep membership and read-mark ids the plain `room|user` (room ids hold neither character) (property)', () => {
    fc.assert(
      fc.property(roomId, id, (room, user) => expect(participantId(room, user)).toBe(`${room}|${user}`)),
    );
  });
});

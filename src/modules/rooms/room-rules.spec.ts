import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { actorRank, moderationRefusal, requireMayModerate, targetRank, type RoomRank } from './room-rules';
import type { ParticipantRecord } from './room.types';

const RANKS: RoomRank[] = ['member', 'moderator', 'owner', 'admin'];
const LEVEL: Record<RoomRank, number> = { member: 0, moderator: 1, owner: 2, admin: 3 };

function participant(overrides: Partial<ParticipantRecord> = {}): ParticipantRecord {
  return { room_id: 'r', user_id: 'u', role: 'member', state: 'member', muted_until: null, ...overrides };
}

describe('moderationRefusal', () => {
  it('should allow exactly: another user, an actor above a member, and an admin or a rank above the target', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...RANKS),
        fc.constantFrom(...RANKS),
        fc.boolean(),
        (actor, target, same) => {
          const allowed = !same && actor !== 'member' && (actor === 'admin' || LEVEL[actor] > LEVEL[target]);
          const refusal = moderationRefusal(
            { userId: 'a', rank: actor },
            { userId: same ? 'a' : 'b', rank: target },
          );
          expect(refusal === null).toBe(allowed);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['moderator', 'moderator', 'a', /yourself/],
    ['admin', 'moderator', 'a', /yourself/],
    ['owner', 'owner', 'a', /yourself/],
  ] as const)('should refuse %s acting on themself (%s)', (actor, target, userId, message) => {
    expect(moderationRefusal({ userId: 'a', rank: actor }, { userId, rank: target })).toMatch(message);
  });

  it.each([
    ['moderator', 'moderator', /members only/],
    ['moderator', 'owner', /owner cannot/],
    ['owner', 'admin', /admin/],
    ['moderator', 'admin', /admin/],
    ['member', 'member', /owner, its moderators and admins/],
  ] as const)('should say why %s may not act on %s', (actor, target, message) => {
    expect(moderationRefusal({ userId: 'a', rank: actor }, { userId: 'b', rank: target })).toMatch(message);
  });

  it.each([
    ['moderator', 'member'],
    ['owner', 'moderator'],
    ['owner', 'member'],
    ['admin', 'owner'],
    ['admin', 'admin'],
  ] as const)('should let %s act on %s', (actor, target) => {
    expect(moderationRefusal({ userId: 'a', rank: actor }, { userId: 'b', rank: target })).toBeNull();
  });
});

describe('requireMayModerate', () => {
  it('should throw a recoverable FORBIDDEN when refused', () => {
    const attempt = () =>
      requireMayModerate({ userId: 'a', rank: 'moderator' }, { userId: 'a', rank: 'moderator' });
    expect(attempt).toThrow(DomainException);
    expect(attempt).toThrow(
      expect.objectContaining({ code: ErrorCode.FORBIDDEN, recoverable: true }) as unknown as Error,
    );
    expect(() =>
      requireMayModerate({ userId: 'a', rank: 'owner' }, { userId: 'b', rank: 'moderator' }),
    ).not.toThrow();
  });
});

describe('actorRank and targetRank', () => {
  it('should rank an admin token above any role, and a role only while a member', () => {
    expect(actorRank({ isAdmin: true }, null)).toBe('admin');
    expect(actorRank({ isAdmin: false }, participant({ role: 'owner' }))).toBe('owner');
    expect(actorRank({ isAdmin: false }, participant({ role: 'moderator' }))).toBe('moderator');
    expect(actorRank({ isAdmin: false }, participant({ role: 'owner', state: 'left' }))).toBe('member');
    expect(actorRank({ isAdmin: false }, null)).toBe('member');
  });

  it('should rank a target seen as an admin as one, else by role whatever the state', () => {
    expect(targetRank(participant({ role: 'owner', state: 'left' }), false)).toBe('owner');
    expect(targetRank(participant({ role: 'moderator' }), true)).toBe('admin');
    expect(targetRank(null, true)).toBe('admin');
    expect(targetRank(null, false)).toBe('member');
  });
});

import fc from 'fast-check';
import { MuteChaos, type Copy, type StoredMuteMessage } from './room-mutes';

// The mutes' check (test/chaos/room-mutes.ts) on made-up times: one mute of u1 in r1, its mute sent
// at 1000 and acked at 1100, its unmute sent at 3000 and acked at 3100.
function chaos(): MuteChaos {
  const mutes = new MuteChaos({
    moderatorToken: 't',
    rooms: ['r1'],
    users: ['u1'],
    note: () => 0,
    log: () => 0,
  });
  mutes.mutes.push({
    user: 'u1',
    roomId: 'r1',
    muteSentAt: 1000,
    muteAckedAt: 1100,
    unmuteSentAt: 3000,
    unmuteAckedAt: 3100,
  });
  return mutes;
}

function copy(
  sentAt: number,
  answer: Copy['answer'],
  firstSentAt = sentAt,
  user = 'u1',
  answeredAt = sentAt + 5,
): Copy {
  return {
    user,
    roomId: 'r1',
    kind: 'chat',
    clientId: `c${sentAt}`,
    sentAt,
    firstSentAt,
    answeredAt,
    answer,
  };
}

const muted = { acked: false as const, code: 'MUTED', retryAfter: 19_000 };
const none = new Map<string, StoredMuteMessage[]>();

describe(MuteChaos.name, () => {
  it('should count an ack only for a copy sent (first copy too) after the mute ack and answered before the unmute send', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 3000 }),
        (first, later, took) => {
          const sentAt = Math.max(first, later);
          const mutes = chaos();
          mutes.answered(copy(sentAt, { acked: true, seq: 9 }, first, 'u1', sentAt + took));
          const expected = first > 1100 && sentAt > 1100 && sentAt + took < 3000 ? 1 : 0;
          expect(mutes.check(none, () => undefined).mutedAccepted).toBe(expected);
        },
      ),
    );
  });

  it('should count MUTED only outside a mute and its races, and another code only while surely muted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.constantFrom('MUTED', 'NOT_A_MEMBER', 'INTERNAL', 'RATE_LIMITED'),
        (sentAt, took, code) => {
          const mutes = chaos();
          const answeredAt = sentAt + took;
          mutes.answered(copy(sentAt, { acked: false, code, retryAfter: 100 }, sentAt, 'u1', answeredAt));
          const counts = mutes.check(none, () => undefined);
          // checked by the server somewhere between its send and its answer
          const surely = sentAt > 1100 && answeredAt < 3000;
          const racing = answeredAt >= 1000 && sentAt <= 3100;
          expect(counts.unmutedRefused).toBe(code === 'MUTED' && !racing ? 1 : 0);
          expect(counts.mutedWrongCode).toBe(surely && code === 'NOT_A_MEMBER' ? 1 : 0);
          expect(counts.mutedRefusals).toBe(code === 'MUTED' ? 1 : 0);
        },
      ),
    );
  });

  it('should count MUTED without retry_after as the wrong answer, and another user or room not at all', () => {
    const mutes = chaos();
    mutes.answered(copy(2000, { acked: false, code: 'MUTED' }));
    mutes.answered(copy(2001, muted));
    mutes.answered(copy(2002, { acked: true, seq: 5 }, 2002, 'u2'));
    const counts = mutes.check(none, () => undefined);
    expect(counts).toMatchObject({
      mutedWrongCode: 1,
      mutedRefusals: 2,
      mutedAccepted: 0,
      unmutedRefused: 0,
    });
  });

  it("should count a message stored after the mute's system message whose first copy went out before the mute's ack", () => {
    const mutes = chaos();
    const at = (ms: number) => new Date(ms).toISOString();
    mutes.answered(copy(1050, { acked: true, seq: 3 }));
    mutes.answered(copy(900, { acked: true, seq: 1 }));
    const history: StoredMuteMessage[] = [
      { seq: 1, user_id: 'u1', client_id: 'c900', timestamp: at(950) },
      {
        seq: 2,
        user_id: 'owner',
        timestamp: at(1010),
        metadata: { kind: 'system', action: 'mute', target_user_id: 'u1' },
      },
      { seq: 3, user_id: 'u1', client_id: 'c1050', timestamp: at(1060) },
    ];
    expect(mutes.check(new Map([['r1', history]]), () => undefined)).toMatchObject({
      mutedRaced: 1,
      mutedAccepted: 0,
      mutes: 1,
      unmutes: 1,
    });
  });
});

import { runChaos } from '../chaos/chaos';
import { TAKEOVER_FAULTS } from '../chaos/takeover-chaos';
import { testEnv } from '../helpers/env';

// `npm run chaos -- --minutes 10` runs the same for longer (CHAOS_MINUTES).
const MINUTES = Number(process.env.CHAOS_MINUTES ?? 1);

describe('chaos: two instances, Redis, FerretDB, kills, restarts of both and cut sockets (e2e)', () => {
  jest.setTimeout(MINUTES * 60_000 + 180_000);

  it('should lose nothing acked, store nothing twice, leave no seq gap and end every acked turn, in sessions and in rooms, where edits, reactions, deletes, kicks, bans and mutes hold too', async () => {
    const counts = await runChaos({
      env: testEnv({
        LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 15 }]),
        SHUTDOWN_GRACE: '1s',
        // an admin's dropped socket lets the session go within seconds (takeovers half)
        TAKEOVER_GRACE: '2s',
        // each stored event is logged (no text): a lost or doubled message is traced from them
        LOG_LEVEL: 'info',
      }),
      clients: 8,
      durationMs: MINUTES * 60_000,
      faultEveryMs: 5_000,
      log: (line) => process.env.CHAOS_VERBOSE && console.log(line),
    });
    const { rooms, takeovers, faults, ...sessions } = counts;
    console.log(
      `chaos: sessions ${JSON.stringify(sessions)}\nchaos: rooms ${JSON.stringify(rooms)}\nchaos: takeovers ${JSON.stringify(takeovers)}\nchaos: faults ${JSON.stringify(faults)}`,
    );
    expect(counts.acked).toBeGreaterThan(0);
    expect(rooms.acked).toBeGreaterThan(0);
    expect(rooms.leaves).toBeGreaterThan(0);
    expect(rooms.resumes).toBeGreaterThan(0);
    expect(rooms.live).toBeGreaterThan(0);
    expect(rooms.edits).toBeGreaterThan(0);
    expect(rooms.reactions).toBeGreaterThan(0);
    expect(rooms.kicks).toBeGreaterThan(0);
    expect(rooms.bans).toBeGreaterThan(0);
    expect(rooms.refusals).toBeGreaterThan(0);
    expect(rooms.deletes).toBeGreaterThan(0);
    expect(rooms.mutes).toBeGreaterThan(0);
    expect(rooms.mutedRefusals).toBeGreaterThan(0);
    expect(rooms.compared).toBeGreaterThan(0);
    // resumes read the rooms' change logs (changed_after), not every page held
    expect(rooms.changeReads).toBeGreaterThan(0);
    // the takeovers half did its work: admins joined, wrote, left, and let leases lapse
    expect(takeovers.userAcked).toBeGreaterThan(0);
    expect(takeovers.adminAcked).toBeGreaterThan(0);
    expect(takeovers.joins).toBeGreaterThan(0);
    expect(takeovers.leaves).toBeGreaterThan(0);
    expect(takeovers.abandoned).toBeGreaterThan(0);
    expect(takeovers.locked).toBeGreaterThan(0);
    expect({
      lost: counts.lost,
      duplicated: counts.duplicated,
      seqGaps: counts.seqGaps,
      openTurns: counts.openTurns,
      unansweredTurns: counts.unansweredTurns,
      interleaved: counts.interleaved,
      rooms: {
        lost: rooms.lost,
        duplicated: rooms.duplicated,
        seqGaps: rooms.seqGaps,
        ackMismatches: rooms.ackMismatches,
        undelivered: rooms.undelivered,
        deliveredTwice: rooms.deliveredTwice,
        outOfOrder: rooms.outOfOrder,
        contentWrong: rooms.contentWrong,
        editedWrong: rooms.editedWrong,
        reactionsWrong: rooms.reactionsWrong,
        reactionsDoubled: rooms.reactionsDoubled,
        removedDelivered: rooms.removedDelivered,
        removedRead: rooms.removedRead,
        rejoined: rooms.rejoined,
        removalsLost: rooms.removalsLost,
        deletedWrong: rooms.deletedWrong,
        deleteLost: rooms.deleteLost,
        deletedResurrected: rooms.deletedResurrected,
        deletesMissed: rooms.deletesMissed,
        editsMissed: rooms.editsMissed,
        reactionsMissed: rooms.reactionsMissed,
        deletedMismatch: rooms.deletedMismatch,
        mutedAccepted: rooms.mutedAccepted,
        mutedWrongCode: rooms.mutedWrongCode,
        unmutedRefused: rooms.unmutedRefused,
      },
      takeovers: Object.fromEntries(TAKEOVER_FAULTS.map((key) => [key, takeovers[key]])),
    }).toEqual({
      lost: 0,
      duplicated: 0,
      seqGaps: 0,
      openTurns: 0,
      unansweredTurns: 0,
      interleaved: 0,
      rooms: {
        lost: 0,
        duplicated: 0,
        seqGaps: 0,
        ackMismatches: 0,
        undelivered: 0,
        deliveredTwice: 0,
        outOfOrder: 0,
        contentWrong: 0,
        editedWrong: 0,
        reactionsWrong: 0,
        reactionsDoubled: 0,
        removedDelivered: 0,
        removedRead: 0,
        rejoined: 0,
        removalsLost: 0,
        deletedWrong: 0,
        deleteLost: 0,
        deletedResurrected: 0,
        deletesMissed: 0,
        editsMissed: 0,
        reactionsMissed: 0,
        deletedMismatch: 0,
        mutedAccepted: 0,
        mutedWrongCode: 0,
        unmutedRefused: 0,
      },
      takeovers: Object.fromEntries(TAKEOVER_FAULTS.map((key) => [key, 0])),
    });
  });
});

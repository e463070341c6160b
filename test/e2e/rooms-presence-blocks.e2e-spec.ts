import type { RunningApp } from '../helpers/app';
import type { Frame, TestClient } from '../helpers/ws-client';
import { api, join, withTwoInstances, type TwoInstances } from './rooms.helpers';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// past the 1 s presence pace, on two instances
const SETTLE_MS = 2_500;

function statusesOf(watcher: TestClient, roomId: string, userId: string): string[] {
  const out: string[] = [];
  for (const frame of watcher.frames as Array<Frame & { room_id?: string }>)
    if (frame.type === 'presence' && frame.room_id === roomId)
      for (const user of frame.metadata?.users as Array<{ user_id: string; status: string }>)
        if (user.user_id === userId) out.push(user.status);
  return out;
}

// Found by a presence audit in session 40 (3 of 3 runs). Nothing crosses a block in a direct message
// (no read receipt either way, no typing, no message), but presence did: the blocked user watched
// the one who blocked them come and go there, live (`presence` online, online, offline), in their
// join's `metadata.online` and in the participants read (docs/protocol.md, "Presence").
describe('rooms: presence across a block in a direct message (e2e)', () => {
  jest.setTimeout(120_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances(
    (started) => {
      cluster = started;
      ({ first, second } = started);
    },
    { PRESENCE_TIMEOUT: '3s' },
  );

  it("should show the blocked user none of the blocker's presence in their direct message, on either instance", async () => {
    const blocker = cluster.person();
    const blocked = cluster.person();
    const dm = await api<{ id: string }>(first, blocker.token, 'POST', '/dms', { user_id: blocked.id });
    expect(dm.status).toBeLessThan(300);
    const roomId = dm.body.id;
    const watcher = await cluster.socket(second, blocked.token);
    await join(watcher, roomId);
    // before the block the blocker's coming and going shows (the test sees frames at all)
    const early = await cluster.socket(first, blocker.token);
    await join(early, roomId);
    await pause(SETTLE_MS);
    await early.close();
    await pause(SETTLE_MS);
    expect(statusesOf(watcher, roomId, blocker.id)).toContain('online');
    expect(statusesOf(watcher, roomId, blocker.id).at(-1)).toBe('offline');

    expect((await api(first, blocker.token, 'POST', '/blocks', { user_id: blocked.id })).status).toBeLessThan(
      300,
    );
    const before = statusesOf(watcher, roomId, blocker.id).length;
    const blockerSocket = await cluster.socket(first, blocker.token);
    await join(blockerSocket, roomId);
    await pause(SETTLE_MS);
    // while the blocker is online: offline to the blocked user in the participants read, and not in
    // the online members their join is told
    const participants = await api<Array<{ user_id: string; presence: string }>>(
      second,
      blocked.token,
      'GET',
      `/rooms/${roomId}/participants`,
    );
    const rejoin = await cluster.socket(second, blocked.token);
    const joined = await join(rejoin, roomId);
    await blockerSocket.close();
    await pause(SETTLE_MS);
    expect({
      frames: statusesOf(watcher, roomId, blocker.id).slice(before),
      participant: participants.body.find((member) => member.user_id === blocker.id)?.presence,
      online: (joined.metadata?.online as string[]).includes(blocker.id),
    }).toEqual({ frames: [], participant: 'offline', online: false });
    await Promise.all([watcher.close(), rejoin.close()]);
  });
});

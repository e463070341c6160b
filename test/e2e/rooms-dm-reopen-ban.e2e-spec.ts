import { BlocksRepository } from '../../src/modules/rooms/blocks.repository';
import { type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser } from '../helpers/tokens';
import { api, holdNextCall, TwoInstances } from './rooms.helpers';

// Found by a rooms audit in session 39 (14–22 of 80 rounds, 4 of 4 runs). A user kicked from a direct message may open it again (POST /dms), a banned one may not
// (docs/protocol.md, "Rooms, direct messages, moderation": "a banned one is refused BANNED (403)
// until unbanned"; "A join, a leave or an invitation writes the membership only over the state it
// checked ... a kick or ban that lands in between, on any instance, stands"). An admin's ban of the
// kicked user, acked while the user's reopen is on its way on the other instance, must stand.
describe('rooms: a direct message opened again while its opener is banned (e2e)', () => {
  jest.setTimeout(180_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;
  const admin = { id: uniqueUser('admin'), token: '' };

  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
    admin.token = adminToken(admin.id);
  });
  afterAll(() => cluster?.close());

  // a DM of x and y, x kicked from it by an admin (x may open it again)
  async function kickedDm(): Promise<{
    x: { id: string; token: string };
    y: { id: string };
    roomId: string;
  }> {
    const x = cluster.person();
    const y = cluster.person();
    const opened = await api<{ id: string }>(first, y.token, 'POST', '/dms', { user_id: x.id });
    expect(opened.status).toBe(201);
    const kicked = await api(first, admin.token, 'POST', `/rooms/${opened.body.id}/moderation/kick`, {
      user_id: x.id,
    });
    expect(kicked.status).toBe(200);
    return { x, y, roomId: opened.body.id };
  }

  async function stillBanned(token: string, roomId: string): Promise<string> {
    const history = await api<{ error?: { code: string } }>(first, token, 'GET', `/rooms/${roomId}/messages`);
    return `${history.status} ${history.body?.error?.code ?? ''}`;
  }

  it('should keep the opener banned when the ban lands between the reopen check and its write (held read)', async () => {
    const { x, y, roomId } = await kickedDm();
    // the second instance's reopen reads x's membership (kicked), then checks the block: that check
    // is held until the ban is acked on the first instance
    const hold = holdNextCall(
      second.app.get(BlocksRepository),
      'isBlocked',
      (_blocker, blocked) => blocked === x.id,
      'before',
    );
    const reopened = api<{ id: string }>(second, x.token, 'POST', '/dms', { user_id: y.id });
    await hold.held;
    const ban = await api(first, admin.token, 'POST', `/rooms/${roomId}/moderation/ban`, { user_id: x.id });
    expect(ban.status).toBe(200);
    hold.release();
    await reopened;
    // the ban was acked before the reopen wrote: x must be out
    expect(await stillBanned(x.token, roomId)).toBe('403 BANNED');
  });

  it('should keep every opener banned when reopens and bans race (no hooks)', async () => {
    const rounds = 80;
    const wrong: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const { x, y, roomId } = await kickedDm();
      // the ban goes out 0..9 ms before the reopen, or the reopen 0..9 ms before the ban
      const offset = (round % 20) - 10;
      const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
      const [ban] = await Promise.all([
        later(offset).then(() =>
          api(first, admin.token, 'POST', `/rooms/${roomId}/moderation/ban`, { user_id: x.id }),
        ),
        later(-offset).then(() => api(second, x.token, 'POST', '/dms', { user_id: y.id })),
      ]);
      expect(ban.status).toBe(200);
      const state = await stillBanned(x.token, roomId);
      if (state !== '403 BANNED')
        wrong.push(`round ${round} (ban ${offset} ms after the reopen): history ${state}`);
    }
    expect(wrong).toEqual([]);
  });
});

import type { RunningApp } from '../helpers/app';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, say, TwoInstances, waitUntil, type RoomFrame } from './rooms.helpers';

// The change log (docs/protocol.md, "Change log") over real sockets, two instances, one store
// (FerretDB in the e2e runs) and one Redis: a device that was away asks for the messages changed
// after the last change number it applied (GET /rooms/:id/messages?changed_after=N) instead of
// reading again every page it holds; the answer holds exactly the changed messages as they are now,
// for a cost in store commands that does not grow with what the device holds.
interface ChangesPage {
  items: Array<{
    message_id: string;
    seq: number;
    content?: string;
    metadata: {
      edited_at?: string;
      deleted?: boolean;
      reactions?: Record<string, string[]>;
      change?: number;
      reaction_changes?: Record<string, Record<string, number>>;
    };
  }>;
  changed_through: number;
  more: boolean;
  settling?: boolean;
  reset?: boolean;
}

// the collections a room's history and change reads touch (background work, such as the AI runs'
// sweep, reads others)
const ROOM_COLLECTIONS = [
  'chat_messages',
  'chat_reactions',
  'chat_room_changes',
  'chat_participants',
  'chat_rooms',
];

async function roomStoreCommands(app: RunningApp): Promise<number> {
  const text = await (await fetch(`${app.httpUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('chatbox_store_commands_total{')) continue;
    const collection = /collection="([^"]*)"/.exec(line)?.[1] ?? '';
    if (ROOM_COLLECTIONS.includes(collection)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

// the store commands one call made on `app` (nothing else runs against these rooms meanwhile)
async function commandsOf<T>(
  app: RunningApp,
  call: () => Promise<T>,
): Promise<{ result: T; commands: number }> {
  const before = await roomStoreCommands(app);
  const result = await call();
  return { result, commands: (await roomStoreCommands(app)) - before };
}

describe('rooms change log (e2e, two instances)', () => {
  jest.setTimeout(180_000);
  let apps: TwoInstances;

  beforeAll(async () => {
    apps = await TwoInstances.start();
  });
  afterAll(() => apps.close());

  const changedAfter = (app: RunningApp, token: string, roomId: string, after: number, limit?: number) =>
    api<ChangesPage>(
      app,
      token,
      'GET',
      `/rooms/${encodeURIComponent(roomId)}/messages?changed_after=${after}${limit !== undefined ? `&limit=${limit}` : ''}`,
    );

  // a room of `count` messages by the owner, a member's device that joined and held them all
  async function roomWith(count: number) {
    const owner = apps.person();
    const member = apps.person();
    const roomId = await createRoom(apps.first, owner.token);
    const writer = await apps.socket(apps.first, owner.token);
    await join(writer, roomId);
    const ids: string[] = [];
    for (let index = 0; index < count; index++) {
      const ack = await say(writer, roomId, `message ${index + 1}`, `m-${index}`);
      if (ack.type !== 'ack') throw new Error(`send refused: ${JSON.stringify(ack)}`);
      ids.push(ack.message_id as string);
    }
    const device = await apps.socket(apps.second, member.token);
    const joined = await join(device, roomId);
    return { owner, member, roomId, writer, device, joined, ids };
  }

  // while the device is away: an edit, a delete and a reaction, on old messages, from both instances
  async function changeWhileAway(
    writer: TestClient,
    other: TestClient,
    roomId: string,
    ids: string[],
  ): Promise<string[]> {
    const changed = [ids[1], ids[4], ids[0]];
    writer.send({
      type: 'edit',
      room_id: roomId,
      message_id: changed[0],
      content: 'edited away',
      client_id: 'e-1',
    });
    writer.send({ type: 'delete', room_id: roomId, message_id: changed[1], client_id: 'd-1' });
    other.send({ type: 'react', room_id: roomId, message_id: changed[2], content: '👍', client_id: 'r-1' });
    for (const [client, clientId] of [
      [writer, 'e-1'],
      [writer, 'd-1'],
      [other, 'r-1'],
    ] as const)
      expect(
        await client.next(
          (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
        ),
      ).toMatchObject({ type: 'ack' });
    return changed;
  }

  it('should bring an edit, a delete and a reaction made while a device was away, exactly, for a cost that does not grow with what it held', async () => {
    const costs: Record<number, { changes: number; pages: number }> = {};
    for (const held of [50, 500]) {
      const { owner, member, roomId, writer, device, joined, ids } = await roomWith(held);
      // a first join: where the device's change log starts
      const base = (joined.metadata as { changed?: number }).changed;
      expect(base).toBe(0);
      device.socket.terminate();
      const reactor = await apps.socket(apps.second, owner.token);
      await join(reactor, roomId);
      const changed = await changeWhileAway(writer, reactor, roomId, ids);

      // the device is back (the other instance), resumes its messages, then asks for the changes
      const back = await apps.socket(apps.second, member.token);
      await join(back, roomId, held);
      const { result: page, commands } = await commandsOf(apps.second, () =>
        changedAfter(apps.second, member.token, roomId, base as number),
      );
      expect(page.status).toBe(200);
      expect(page.body.reset).toBeUndefined();
      expect(page.body.more).toBe(false);
      expect(page.body.changed_through).toBe(3);
      // exactly the changed messages, each once, as they are now, oldest first
      expect(page.body.items.map((item) => item.message_id)).toEqual([changed[2], changed[0], changed[1]]);
      const [reacted, edited, deleted] = page.body.items;
      expect(reacted.metadata.reactions).toEqual({ '👍': [owner.id] });
      expect(edited).toMatchObject({ content: 'edited away' });
      expect(edited.metadata.edited_at).toEqual(expect.any(String));
      expect(deleted.metadata.deleted).toBe(true);
      expect(deleted.content).toBeUndefined();
      // the numbers what they hold carries: a change of them older than that is not applied over it
      expect(
        [
          edited.metadata.change,
          deleted.metadata.change,
          reacted.metadata.reaction_changes?.['👍']?.[owner.id],
        ].sort(),
      ).toEqual([1, 2, 3]);
      expect(reacted.metadata.change).toBeUndefined();
      // nothing changed after it
      const none = await changedAfter(apps.second, member.token, roomId, page.body.changed_through);
      expect(none.body).toEqual({ items: [], changed_through: 3, more: false, next_before: null });

      // what the fallback (held-refresh.ts: every page held, newest first) costs on the same instance
      const { commands: pages } = await commandsOf(apps.second, async () => {
        let before: number | undefined;
        for (;;) {
          const query: string = before === undefined ? 'limit=100' : `before=${before}&limit=100`;
          const read = await api<{ items: Array<{ seq: number }> }>(
            apps.second,
            member.token,
            'GET',
            `/rooms/${encodeURIComponent(roomId)}/messages?${query}`,
          );
          if (read.body.items.length < 100 || read.body.items[0].seq <= 1) return;
          before = read.body.items[0].seq;
        }
      });
      costs[held] = { changes: commands, pages };
    }
    console.log(`[change-log] store commands per room and reconnect: ${JSON.stringify(costs)}`);
    // the change read costs the same however many messages the device held; the page re-read grows
    expect(costs[500].changes).toBe(costs[50].changes);
    expect(costs[500].changes).toBeLessThanOrEqual(6);
    expect(costs[500].pages).toBeGreaterThan(costs[50].pages);
  });

  // A change whose number was taken before a first join read the room's head, and whose write landed
  // after the join's history read, reaches the device only by its frame: when that frame is lost (the
  // socket cut, its writer killed between the write and the frame, the bus away), a log starting at
  // the head would never name it. A first join's log starts below every change of the last 30 s
  // (docs/protocol.md, "Change log"), so the device's first read names them again.
  it("should start a first join's change log below the changes that may still be settling", async () => {
    const { roomId, writer, ids } = await roomWith(3);
    writer.send({ type: 'react', room_id: roomId, message_id: ids[1], content: '🎉', client_id: 'r-s' });
    expect(
      await writer.next(
        (frame) => frame.client_id === 'r-s' && (frame.type === 'ack' || frame.type === 'error'),
      ),
    ).toMatchObject({ type: 'ack' });
    const late = apps.person();
    const device = await apps.socket(apps.second, late.token);
    const joined = await join(device, roomId);
    const start = (joined.metadata as { changed?: number }).changed;
    expect(start).toBe(0);
    const page = await changedAfter(apps.second, late.token, roomId, start as number);
    expect(page.body.items.map((item) => item.message_id)).toEqual([ids[1]]);
    expect(page.body.changed_through).toBe(1);
  });

  it('should give a non-member nothing, and tell a device whose number the room cannot answer from to read its pages again', async () => {
    const { member, roomId, writer, ids } = await roomWith(3);
    writer.send({
      type: 'edit',
      room_id: roomId,
      message_id: ids[0],
      content: 'secret edit',
      client_id: 'e-x',
    });
    await writer.next((frame) => frame.client_id === 'e-x' && frame.type === 'ack');
    const stranger = apps.person();
    const refused = await changedAfter(apps.first, stranger.token, roomId, 0);
    const history = await api(
      apps.first,
      stranger.token,
      'GET',
      `/rooms/${encodeURIComponent(roomId)}/messages`,
    );
    // refused as a history read is
    expect(refused.status).toBe(history.status);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(refused.body)).not.toContain('secret edit');
    // a private room: not even its existence
    const privateRoom = await createRoom(apps.first, member.token, 'private');
    expect((await changedAfter(apps.second, stranger.token, privateRoom, 0)).status).toBe(404);
    // a number past the room's head (another store's, a store restored from a backup): reset
    const reset = await changedAfter(apps.second, member.token, roomId, 1000);
    expect(reset.body).toMatchObject({ items: [], reset: true, changed_through: 1 });
    // not a change number: refused as any other bad query
    for (const bad of ['-1', 'abc', '1.5'])
      expect(
        (
          await api(
            apps.second,
            member.token,
            'GET',
            `/rooms/${encodeURIComponent(roomId)}/messages?changed_after=${bad}`,
          )
        ).status,
      ).toBe(400);
    // with before: refused
    expect(
      (
        await api(
          apps.second,
          member.token,
          'GET',
          `/rooms/${encodeURIComponent(roomId)}/messages?changed_after=0&before=3`,
        )
      ).status,
    ).toBe(400);
  });

  it('should number concurrent changes from two instances 1..n, each once, in the frames and in the reads (paged)', async () => {
    const { owner, member, roomId, writer, device, ids } = await roomWith(12);
    const second = await apps.socket(apps.second, owner.token);
    await join(second, roomId);
    const others = await Promise.all(
      [apps.first, apps.second, apps.first, apps.second].map(async (app) => {
        const person = apps.person();
        const socket = await apps.socket(app, person.token);
        await join(socket, roomId);
        return socket;
      }),
    );
    // edits by the owner on both instances, reactions by four people on both, all at once
    const sent: Array<[TestClient, string]> = [];
    ids.forEach((id, index) => {
      const socket = index % 2 ? second : writer;
      const clientId = `ce-${index}`;
      socket.send({
        type: 'edit',
        room_id: roomId,
        message_id: id,
        content: `edit ${index}`,
        client_id: clientId,
      });
      sent.push([socket, clientId]);
      others.forEach((other, person) => {
        const reactId = `cr-${index}-${person}`;
        other.send({ type: 'react', room_id: roomId, message_id: id, content: '🎉', client_id: reactId });
        sent.push([other, reactId]);
      });
    });
    for (const [socket, clientId] of sent)
      expect(
        await socket.next(
          (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
          20_000,
        ),
      ).toMatchObject({ type: 'ack' });
    const total = sent.length;
    // the member's device (second instance) got every change frame once, numbered 1..n without a gap
    const numbers = () =>
      (device.frames as RoomFrame[])
        .filter((frame) => (frame.type === 'edit' || frame.type === 'react') && frame.room_id === roomId)
        .map((frame) => (frame.metadata as { change?: number }).change);
    await waitUntil(() => numbers().length >= total, 20_000);
    expect([...numbers()].sort((a, b) => (a as number) - (b as number))).toEqual(
      Array.from({ length: total }, (_, index) => index + 1),
    );
    // read back in pages of 7 changes: every changed message, through the last number, none twice
    const read = new Map<string, number>();
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = await changedAfter(pages % 2 ? apps.first : apps.second, member.token, roomId, after, 7);
      expect(page.status).toBe(200);
      for (const item of page.body.items) read.set(item.message_id, (read.get(item.message_id) ?? 0) + 1);
      expect(page.body.changed_through).toBeGreaterThanOrEqual(after);
      after = page.body.changed_through;
      pages++;
      if (!page.body.more) break;
    }
    expect(after).toBe(total);
    expect(pages).toBe(Math.ceil(total / 7) + (total % 7 === 0 ? 1 : 0));
    expect(new Set(read.keys())).toEqual(new Set(ids));
    // the final state of each (the last page read is as new as the store)
    const final = await changedAfter(apps.first, member.token, roomId, 0, 100);
    for (const item of final.body.items) {
      const index = ids.indexOf(item.message_id);
      expect(item.content).toBe(`edit ${index}`);
      expect(item.metadata.reactions?.['🎉']).toHaveLength(4);
    }
  });
});

import type { RunningApp } from '../helpers/app';
import { api, join, say, TwoInstances, waitUntil, withTwoInstances } from './rooms.helpers';

interface PublicRoom {
  id: string;
  kind: string;
  name: string;
  membership: string | null;
}
interface PublicPage {
  items: PublicRoom[];
  next_cursor: string | null;
}

// Every public room can be found (ROOM-001, "public rooms anyone may list"; docs/protocol.md,
// "Finding public rooms"): GET /rooms lists at most the 100 most active ones, so a quiet public room
// past them could never be found (black-box audit of the rooms, t27). GET /rooms/public pages
// through all of them by name, with a search.
describe('rooms: finding every public room (e2e, two instances)', () => {
  jest.setTimeout(120_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances((started) => {
    cluster = started;
    ({ first, second } = started);
  });

  const person = () => cluster.person();
  const make = async (app: RunningApp, token: string, name: string, kind = 'public') => {
    const made = await api<{ id: string }>(app, token, 'POST', '/rooms', { name, kind });
    expect(made.status).toBe(201);
    return made.body.id;
  };
  const browse = (app: RunningApp, token: string, query: Record<string, string> = {}) =>
    api<PublicPage>(app, token, 'GET', `/rooms/public?${new URLSearchParams(query).toString()}`);
  // every page of a browse, `limit` at a time
  async function all(app: RunningApp, token: string, query: Record<string, string>): Promise<PublicRoom[]> {
    const rooms: PublicRoom[] = [];
    for (let cursor: string | null = null, pages = 0; ; pages++) {
      expect(pages).toBeLessThan(100);
      const page = await browse(app, token, { ...query, ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      rooms.push(...page.body.items);
      cursor = page.body.next_cursor;
      if (cursor === null) return rooms;
    }
  }

  it('should find a quiet public room past the 100 most active ones, by search and by paging', async () => {
    const owner = person();
    const outsider = person();
    const quiet = await make(first, owner.token, 'The Quiet Reading Room');
    const secret = await make(first, owner.token, 'quiet private room', 'private');
    // 100 public rooms with a message each: more active than the quiet one
    const busy = await cluster.socket(second, owner.token);
    const made: string[] = [];
    for (let index = 0; index < 100; index++) made.push(await make(second, owner.token, `busy ${index}`));
    for (const [index, roomId] of made.entries()) {
      await join(busy, roomId);
      expect((await say(busy, roomId, 'activity', `busy-${index}`)).type).toBe('ack');
    }
    // the old list (kept as it is): the 100 most active public rooms only (once the last busy room's
    // activity, written after its ack, is noted)
    await waitUntil(async () => {
      const listed = await api<Array<{ id: string }>>(second, outsider.token, 'GET', '/rooms');
      return listed.body.filter((room) => made.includes(room.id)).length === 100;
    });
    const listed = await api<Array<{ id: string }>>(second, outsider.token, 'GET', '/rooms');
    expect(listed.body.some((room) => room.id === quiet)).toBe(false);

    // found by a search, any case, any part of its name; a private room never
    const found = await browse(second, outsider.token, { q: 'qUIET' });
    expect(found.status).toBe(200);
    expect(found.body).toEqual({
      items: [
        expect.objectContaining({
          id: quiet,
          kind: 'public',
          name: 'The Quiet Reading Room',
          membership: null,
        }),
      ],
      next_cursor: null,
    });
    expect((await browse(first, outsider.token, { q: 'reading' })).body.items.map((room) => room.id)).toEqual(
      [quiet],
    );
    expect((await browse(first, outsider.token, { q: 'reading roomz' })).body.items).toEqual([]);

    // and by paging through every public room, 7 at a time: each once, by name
    const paged = await all(first, outsider.token, { limit: '7' });
    const ids = paged.map((room) => room.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([quiet, ...made].sort());
    expect(ids).not.toContain(secret);
    const names = paged.map((room) => room.name.toLowerCase());
    expect(names.includes('the quiet reading room')).toBe(true);
    // a page of the default size, then the joined room shows its membership
    expect((await browse(second, outsider.token)).body.items).toHaveLength(50);
    expect((await api(first, outsider.token, 'POST', `/rooms/${quiet}/join`)).status).toBe(200);
    expect((await browse(second, outsider.token, { q: 'quiet' })).body.items[0].membership).toBe('member');
  });

  it('should search names literally, in name order, and find a renamed room under its new name on the other instance', async () => {
    const owner = person();
    const reader = person();
    const tag = Math.random().toString(36).slice(2, 8);
    const names = [`${tag} Zeta`, `${tag} alpha`, `${tag} a.*b (x)`, `${tag} Äpfel`, `${tag} Beta`];
    const ids = new Map<string, string>();
    for (const roomName of names) ids.set(roomName, await make(first, owner.token, roomName));
    const found = await all(second, reader.token, { q: tag.toUpperCase(), limit: '2' });
    // by name, case folded; ties by id
    expect(found.map((room) => room.name)).toEqual([
      `${tag} a.*b (x)`,
      `${tag} alpha`,
      `${tag} Beta`,
      `${tag} Zeta`,
      `${tag} Äpfel`,
    ]);
    // the query is text, not a pattern
    expect(
      (await browse(second, reader.token, { q: `${tag} a.*b` })).body.items.map((room) => room.name),
    ).toEqual([`${tag} a.*b (x)`]);
    expect((await browse(second, reader.token, { q: 'a.*q' })).body.items).toEqual([]);
    expect((await browse(second, reader.token, { q: `${tag} äPFEL` })).body.items).toHaveLength(1);

    const renamed = ids.get(`${tag} Zeta`) as string;
    expect(
      (await api(first, owner.token, 'PATCH', `/rooms/${renamed}`, { name: `${tag} Omega` })).status,
    ).toBe(200);
    expect(
      (await browse(second, reader.token, { q: `${tag} omega` })).body.items.map((room) => room.id),
    ).toEqual([renamed]);
    expect((await browse(second, reader.token, { q: `${tag} zeta` })).body.items).toEqual([]);
  });

  it('should refuse a bad limit, cursor or query with 400', async () => {
    const reader = person();
    const queries: Array<Record<string, string>> = [
      { limit: '0' },
      { limit: '101' },
      { limit: 'ten' },
      { cursor: 'not a cursor' },
      { cursor: 'eyJhIjoxfQ' },
      { q: 'x'.repeat(101) },
      { q: 'a\u0000b' },
      { q: 'tab\there' },
      { q: 'ok', page: '2' },
    ];
    for (const query of queries) {
      const refused = await browse(first, reader.token, query);
      expect({ query, status: refused.status }).toEqual({ query, status: 400 });
    }
    expect((await browse(first, reader.token, { limit: '100', q: '' })).status).toBe(200);
  });
});

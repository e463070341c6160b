import { adminToken, uniqueUser } from '../helpers/tokens';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import type { RunningApp } from '../helpers/app';

// Found by a bounds audit in session 39 (10 of 10 rounds, 3 of 3 runs). docs/protocol.md, "Admin tools": a canned response's `shortcut` is "unique (a taken one → 409 `ALREADY_EXISTS`)".
// Two admins on two instances creating (or renaming to) the same shortcut at once must leave one.
describe('canned response shortcuts stay unique across two instances (e2e)', () => {
  jest.setTimeout(120_000);
  let cluster: TwoInstances;

  beforeAll(async () => {
    cluster = await startTwoInstances({});
  });
  afterAll(() => cluster?.close());

  const call = (app: RunningApp, method: string, path: string, token: string, body?: unknown) =>
    fetch(`${app.httpUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  async function shortcutsNamed(shortcut: string): Promise<number> {
    const list = (await (
      await call(cluster.first, 'GET', '/chat/admin/canned-responses', adminToken(uniqueUser('a')))
    ).json()) as Array<{ shortcut: string }>;
    return list.filter((item) => item.shortcut === shortcut).length;
  }

  it('should create one canned response when two admins create the same shortcut at once on two instances', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const bob = adminToken(uniqueUser('bob'));
    const rounds: Array<{ statuses: number[]; stored: number }> = [];
    for (let round = 0; round < 10; round++) {
      const shortcut = `dup-${round}-${Date.now() % 100000}`;
      const statuses = await Promise.all([
        call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, { title: 'A', text: 'a', shortcut }),
        call(cluster.second, 'POST', '/chat/admin/canned-responses', bob, {
          title: 'B',
          text: 'b',
          shortcut,
        }),
      ]).then((responses) => responses.map((response) => response.status));
      rounds.push({ statuses: statuses.sort(), stored: await shortcutsNamed(shortcut) });
    }
    const doubled = rounds.filter((round) => round.stored > 1).length;
    expect({ doubled, rounds }).toEqual({
      doubled: 0,
      rounds: rounds.map(() => ({ statuses: [201, 409], stored: 1 })),
    });
  });

  it('should keep one holder of a shortcut when two responses are renamed to it at once on two instances', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const rounds: number[] = [];
    for (let round = 0; round < 10; round++) {
      const made: string[] = [];
      for (const name of ['x', 'y']) {
        const response = await call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, {
          title: name,
          text: name,
          shortcut: `src-${name}-${round}-${Date.now() % 100000}`,
        });
        made.push(((await response.json()) as { id: string }).id);
      }
      const shortcut = `ren-${round}-${Date.now() % 100000}`;
      await Promise.all([
        call(cluster.first, 'PATCH', `/chat/admin/canned-responses/${made[0]}`, ada, { shortcut }),
        call(cluster.second, 'PATCH', `/chat/admin/canned-responses/${made[1]}`, ada, { shortcut }),
      ]);
      rounds.push(await shortcutsNamed(shortcut));
    }
    expect(rounds).toEqual(rounds.map(() => 1));
  });

  // Found by an admin audit in session 40: every write of one response now takes its lock
  // (canned-responses.service.ts, itemKey); before, two admins' edits at once kept one of them (lost
  // in 2–21 of 20–40 rounds, 5 runs), and a rename racing a title edit lost one (1–2 of 20–40)
  it('should keep both edits when two admins edit different fields of one canned response at once on two instances', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const bob = adminToken(uniqueUser('bob'));
    const lost: unknown[] = [];
    const rounds = Number(process.env.AUDIT_ROUNDS ?? 20);
    for (let round = 0; round < rounds; round++) {
      const created = await call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, {
        title: 'old title',
        text: 'old text',
        shortcut: `edit-${round}-${Date.now() % 100000}`,
      });
      const { id } = (await created.json()) as { id: string };
      const statuses = await Promise.all([
        call(cluster.first, 'PATCH', `/chat/admin/canned-responses/${id}`, ada, { title: 'new title' }),
        call(cluster.second, 'PATCH', `/chat/admin/canned-responses/${id}`, bob, { text: 'new text' }),
      ]).then((responses) => responses.map((response) => response.status));
      const list = (await (
        await call(cluster.first, 'GET', '/chat/admin/canned-responses', ada)
      ).json()) as Array<{
        id: string;
        title: string;
        text: string;
      }>;
      const item = list.find((entry) => entry.id === id);
      if (statuses.join() !== '200,200' || item?.title !== 'new title' || item?.text !== 'new text')
        lost.push({ round, statuses, title: item?.title, text: item?.text });
    }
    expect({ lost: lost.length, of: rounds, examples: lost.slice(0, 3) }).toEqual({
      lost: 0,
      of: rounds,
      examples: [],
    });
  });

  it('should keep a rename when another admin edits the title of the same canned response at once', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const bob = adminToken(uniqueUser('bob'));
    const lost: unknown[] = [];
    const rounds = Number(process.env.AUDIT_ROUNDS ?? 20);
    for (let round = 0; round < rounds; round++) {
      const tag = `${round}-${Date.now() % 100000}`;
      const created = await call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, {
        title: 't',
        text: 'x',
        shortcut: `from-${tag}`,
      });
      const { id } = (await created.json()) as { id: string };
      const statuses = await Promise.all([
        call(cluster.first, 'PATCH', `/chat/admin/canned-responses/${id}`, ada, { shortcut: `to-${tag}` }),
        call(cluster.second, 'PATCH', `/chat/admin/canned-responses/${id}`, bob, { title: 'retitled' }),
      ]).then((responses) => responses.map((response) => response.status));
      const list = (await (
        await call(cluster.first, 'GET', '/chat/admin/canned-responses', ada)
      ).json()) as Array<{
        id: string;
        title: string;
        shortcut: string;
      }>;
      const item = list.find((entry) => entry.id === id);
      if (statuses.join() !== '200,200' || item?.shortcut !== `to-${tag}` || item?.title !== 'retitled')
        lost.push({ round, statuses, shortcut: item?.shortcut, title: item?.title });
    }
    expect({ lost: lost.length, of: rounds, examples: lost.slice(0, 3) }).toEqual({
      lost: 0,
      of: rounds,
      examples: [],
    });
  });

  // Found by the same audit (5 of 5 runs): a title of only spaces was 500 on create (the store's
  // required check, after the trim), and stored empty on edit
  it('should refuse a canned response whose title is only spaces', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const response = await call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, {
      title: '   ',
      text: 'x',
      shortcut: `blank-${Date.now() % 100000}`,
    });
    const body = await response.json();
    expect([response.status, body]).toEqual([400, expect.anything()]);
  });

  it('should refuse, not store, a canned response edited to a title of only spaces', async () => {
    const ada = adminToken(uniqueUser('ada'));
    const created = await call(cluster.first, 'POST', '/chat/admin/canned-responses', ada, {
      title: 'fine',
      text: 'x',
      shortcut: `blank-edit-${Date.now() % 100000}`,
    });
    const { id } = (await created.json()) as { id: string };
    const edited = await call(cluster.first, 'PATCH', `/chat/admin/canned-responses/${id}`, ada, {
      title: ' \t ',
    });
    const list = (await (
      await call(cluster.first, 'GET', '/chat/admin/canned-responses', ada)
    ).json()) as Array<{ id: string; title: string }>;
    expect({ status: edited.status, title: list.find((entry) => entry.id === id)?.title }).toEqual({
      status: 400,
      title: 'fine',
    });
  });
});

import { adminToken, uniqueUser } from '../helpers/tokens';
import { startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import type { RunningApp } from '../helpers/app';

// Found by a bounds audit in session 39 (10 of 10 rounds, 3 of 3 runs). docs/protocol.md, "Admin tools": a canned response's `shortcut` is "unique (a taken one → 400)".
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
      rounds: rounds.map(() => ({ statuses: [201, 400], stored: 1 })),
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
});

import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

interface Hit {
  session_id: string;
  session_name: string;
  user_id: string;
  message_id?: string;
  seq?: number;
  snippet?: string;
}

// Issue 15, item 5: search one's sessions by a blind index on FerretDB ($all, $or and $addToSet as
// the store runs them), admins across all users, and no plaintext in the stored document.
describe('search (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('search-admin');

  beforeAll(async () => {
    // a user making 200 sessions in a few seconds (the deleted sessions' test)
    server = await startApp({ RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(() => server.close());

  const search = async (token: string, query: string, path = '/chat/search') => {
    const response = await fetch(`${server.httpUrl}${path}?q=${encodeURIComponent(query)}`, {
      headers: authHeaders(token),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: Hit[] }).items;
  };
  const chat = async (token: string, texts: string[]) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    for (const [index, content] of texts.entries()) {
      client.send({ type: 'user_message', client_id: `c${index}`, content });
      await client.reply();
    }
    await client.close();
    return sessionId;
  };

  it('should find messages and names by words and prefixes, in one user’s sessions only', async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const first = await chat(token, ['Where is the Zanzibar lighthouse?', 'Another question']);
    const other = await chat(userToken(uniqueUser()), ['Zanzibar is lovely']);

    const hits = await search(token, 'zanzib');
    // the question, and the demo reply quoting it
    expect(new Set(hits.map((hit) => hit.session_id))).toEqual(new Set([first]));
    expect(hits.map((hit) => hit.seq).sort()).toEqual([1, 2]);
    expect(hits.find((hit) => hit.seq === 1)?.snippet).toBe('Where is the Zanzibar lighthouse?');
    expect(await search(token, 'lighthouse zanzibar')).toHaveLength(2);
    expect(await search(token, 'zanzibar submarine')).toEqual([]);
    expect(await search(token, 'anzibar')).toEqual([]);

    // admins search every user's sessions, or one user's
    const all = await search(admin, 'zanzibar', '/chat/admin/search');
    expect(new Set(all.map((hit) => hit.session_id))).toEqual(new Set([first, other]));
    const one = await fetch(`${server.httpUrl}/chat/admin/search?q=zanzibar&user_id=${user}`, {
      headers: authHeaders(admin),
    });
    expect(new Set(((await one.json()) as { items: Hit[] }).items.map((hit) => hit.session_id))).toEqual(
      new Set([first]),
    );
    expect(
      (await fetch(`${server.httpUrl}/chat/admin/search?q=x`, { headers: authHeaders(token) })).status,
    ).toBe(403);
    expect((await fetch(`${server.httpUrl}/chat/search`, { headers: authHeaders(token) })).status).toBe(400);

    // the name is searchable too, and a deleted session is gone for its user
    await fetch(`${server.httpUrl}/chat/sessions/${first}`, {
      method: 'PATCH',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Holiday in Tanzania' }),
    });
    expect((await search(token, 'tanzania')).map((hit) => [hit.session_id, hit.message_id])).toEqual([
      [first, undefined],
    ]);
    await fetch(`${server.httpUrl}/chat/sessions/${first}`, {
      method: 'DELETE',
      headers: authHeaders(token),
    });
    expect(await search(token, 'zanzibar')).toEqual([]);
    expect((await search(admin, 'tanzania', '/chat/admin/search')).map((hit) => hit.session_id)).toEqual([
      first,
    ]);
  });

  // The index holds a session's words together: words said in different messages find the session,
  // at messages that hold them. Until a library audit in session 39 such a hit named no message,
  // which says the session's name matched (4 of 4 runs).
  it('should find words spread over messages at those messages, not as a name match', async () => {
    const token = userToken(uniqueUser());
    const id = await chat(token, ['hello world', 'kiwi', 'mango']);
    const hits = await search(token, 'kiwi mango');
    expect(hits.length).toBeGreaterThan(0);
    for (const hit of hits) {
      expect(hit).toMatchObject({ session_id: id, message_id: expect.any(String) });
      expect(hit.snippet).toMatch(/kiwi|mango/i);
    }
    // a name that holds the words is still a name match
    await fetch(`${server.httpUrl}/chat/sessions/${id}`, {
      method: 'PATCH',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'kiwi and mango' }),
    });
    expect((await search(token, 'kiwi mango')).map((hit) => hit.message_id)).toEqual([undefined]);
  });

  // Found by a library audit in session 40 (3 of 3 runs): only a message's first 400 distinct words
  // were indexed, so a word at the end of a pasted text (or of a long reply) was never found
  it('should find a word at the end of a long message, at that message', async () => {
    const token = userToken(uniqueUser());
    const filler = Array.from({ length: 450 }, (_, index) => `w${index.toString(36)}x`).join(' ');
    const text = `${filler} Zanzibarlighthouse`;
    expect(text.length).toBeLessThan(4096);
    const id = await chat(token, [text]);
    const hits = await search(token, 'zanzibarlighthouse');
    expect(hits).toEqual(
      expect.arrayContaining([expect.objectContaining({ session_id: id, message_id: expect.any(String) })]),
    );
  });

  // Found by the text-limits black-box audit in session 41 (3 faults, each 3 of 3 runs): a snippet was
  // cut in UTF-16 units from a fractional start, so it began or ended on half an emoji; and the match
  // was looked for in the lower-cased text (Turkish İ is two units there) or, for an accent-folded
  // word, not found at all, so the snippet missed the word it matched (docs/protocol.md, "Search")
  describe('snippets of text at the limits', () => {
    const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const question = (hits: Hit[]) => hits.find((hit) => hit.seq === 1)?.snippet;

    it('should never hold half a character', async () => {
      const token = userToken(uniqueUser());
      // the word at an even UTF-16 offset: a start 46⅔ units before it falls inside an emoji
      await chat(token, [`${'😀'.repeat(60)}  zanzibar ${'🎉'.repeat(80)}`]);
      const snippets = (await search(token, 'zanzibar')).flatMap((hit) => hit.snippet ?? []);
      expect(snippets.length).toBeGreaterThan(0);
      expect(snippets.filter((snippet) => LONE.test(snippet))).toEqual([]);
      expect(question(await search(token, 'zanzibar'))).toContain('zanzibar');
    });

    it('should show the word it matched in Turkish capitals', async () => {
      const token = userToken(uniqueUser());
      // İ lower-cases to two UTF-16 units (i + U+0307)
      await chat(token, [`${'DİKKAT İSTANBUL İZMİR İNEGÖL '.repeat(12)}zanzibar feneri nerede`]);
      expect(question(await search(token, 'zanzibar'))).toContain('zanzibar');
    });

    it('should show an accented word it matched, searched with or without the accent', async () => {
      const token = userToken(uniqueUser());
      const french = 'Nous avons longuement parlé du voyage et des billets de train. '
        .repeat(7)
        .slice(0, 400);
      await chat(token, [`${french} Rendez-vous au café de la gare à midi.`]);
      expect(question(await search(token, 'café'))).toContain('café de la gare');
      expect(question(await search(token, 'cafe'))).toContain('café de la gare');
    });
  });

  // Found by the search/history black-box audit in session 42 (3 of 3): after an edit the export
  // and the thread showed the new text only, but a search for the old words found the replaced
  // version and its reply, their snippets and ids pointing at messages the conversation no longer
  // shows (docs/protocol.md, "Search": what the conversation reads now)
  it('should find only what the conversation reads now: no word edited away, nor its reply', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    // named by its first message: the old words stay in the name, a name match
    client.send({ type: 'user_message', client_id: 'u1', content: 'Trip planning' });
    await client.reply();
    client.send({ type: 'user_message', client_id: 'u2', content: 'my password is quokka123' });
    const ack = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'u2');
    await client.reply();
    client.send({
      type: 'edit_message',
      client_id: 'e1',
      id: String(ack.id),
      content: 'forget that, wombat',
    });
    const edited = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'e1');
    const reply = (await client.reply()).final;
    await client.close();

    expect(await search(token, 'quokka123')).toEqual([]);
    expect(
      (await search(token, 'wombat')).map((hit) => [hit.session_id, hit.message_id, hit.seq]).sort(),
    ).toEqual(
      [
        [sessionId, edited.id, edited.seq],
        [sessionId, reply.id, reply.seq],
      ].sort(),
    );
    // a word of the old version and one of the thread: none of the thread's messages holds either
    expect(await search(token, 'quokka123 trip')).toEqual([]);
    // a name that still holds the old words is a name match, at no message
    const named = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
      method: 'PATCH',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'quokka123 notes' }),
    });
    expect(named.status).toBe(200);
    expect((await search(token, 'quokka123')).map((hit) => [hit.session_id, hit.message_id])).toEqual([
      [sessionId, undefined],
    ]);
  });

  // Found by the search/history black-box audit in session 42 (3 of 3): a user's search took the
  // newest 200 sessions whose index held the words and only then left out the deleted ones, so 201
  // newer deleted sessions holding a word hid the live one that held it (docs/protocol.md, "Search")
  it('should find a live session however many newer deleted sessions held the word', async () => {
    const token = userToken(uniqueUser());
    // named by its first message, which does not hold the word: found by its index alone
    const sessionId = await chat(token, ['Whale watching', 'a narwhal sighting']);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await client.nextOfType('connection_status');
    const newer: string[] = [];
    for (let index = 0; index <= 201; index++) {
      client.send({ type: 'new_session', client_id: `n${index}` });
      const opened = await client.next((frame) => frame.type === 'ack' && frame.client_id === `n${index}`);
      if (index === 201) break;
      newer.push(String(opened.session_id));
      // indexed when due (a search on this instance writes what is due first), its reply or not
      client.send({ type: 'user_message', client_id: `u${index}`, content: 'narwhal again' });
      await client.next((frame) => frame.type === 'ack' && frame.client_id === `u${index}`);
    }
    await client.close();
    // none of them the active one (deleting that one opens another); within the HTTP budget
    for (const id of newer)
      for (;;) {
        const deleted = await fetch(`${server.httpUrl}/chat/sessions/${id}`, {
          method: 'DELETE',
          headers: authHeaders(token),
        });
        if (deleted.status !== 429) {
          expect(deleted.status).toBe(204);
          break;
        }
        await new Promise((resolve) =>
          setTimeout(resolve, Number(deleted.headers.get('retry-after') ?? 1) * 1000),
        );
      }
    expect((await search(token, 'narwhal')).map((hit) => hit.session_id)).toEqual([sessionId, sessionId]);
    // admins still find the deleted ones (the newest of them)
    const all = await search(admin, 'narwhal', `/chat/admin/search`);
    expect(all.length).toBeGreaterThan(0);
    expect(all.map((hit) => hit.session_id)).not.toContain(sessionId);
  }, 60_000);

  it('should store no plaintext of the words in the session document or its index', async () => {
    const token = userToken(uniqueUser());
    const secret = 'Quetzalcoatlus supercalifragilistic';
    const sessionId = await chat(token, [secret]);
    const connection = server.app.get<Connection>(getConnectionToken());
    const document = await connection.collection('sessions').findOne({ _id: sessionId as never });
    // the session's name is plaintext as it always was (the auto-title is the first message's text);
    // the index adds none: the messages and their tokens hold no word
    const { name: _name, ...rest } = (document ?? {}) as Record<string, unknown>;
    const stored = JSON.stringify(rest).toLowerCase();
    for (const word of ['quetzalcoatlus', 'quetzal', 'supercalifragilistic', 'supercal'])
      expect(stored).not.toContain(word);
    // the index lives apart (session_terms), written after the turn; a search on this instance
    // writes what is due first
    expect((await search(token, 'QUETZAL')).length).toBeGreaterThan(0);
    const terms = await connection.collection('session_terms').findOne({ _id: sessionId as never });
    expect((terms?.tokens as string[]).length).toBeGreaterThan(10);
    const index = JSON.stringify(terms).toLowerCase();
    for (const word of ['quetzalcoatlus', 'quetzal', 'supercalifragilistic', 'supercal'])
      expect(index).not.toContain(word);
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { type Settings } from '../../src/config/settings';
import { DomainException } from '../../src/common/errors/domain.exception';
import { ErrorCode } from '../../src/common/errors/error-code';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { SessionsRepository } from '../../src/modules/sessions/sessions.repository';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { SessionTermsIndexer } from '../../src/modules/sessions/session-terms.indexer';
import { AssistanceRepository } from '../../src/modules/sessions/assistance.repository';
import { TurnAnswered } from '../../src/modules/sessions/session.types';
import { commandsDuring, databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

// Real repositories and services against FerretDB (MongoDB wire protocol) started by scripts/test.sh.
describe('sessions against FerretDB', () => {
  let module: TestingModule;
  let repository: SessionsRepository;
  let service: SessionsService;
  let model: Model<Session>;
  let settings: Settings;

  beforeAll(async () => {
    settings = { ...testSettings({ RECONNECT_TIMEOUT: '15m' }) };
    module = await Test.createTestingModule({
      imports: [...databaseModules(settings), SessionsModule],
    }).compile();
    await module.init();
    repository = module.get(SessionsRepository);
    service = module.get(SessionsService);
    model = module.get(getModelToken(Session.name));
  });
  afterAll(() => module.close());

  // a message a user sent (client_id, content)
  const sent = (clientId: string, content = clientId) => ({
    type: 'user_message' as const,
    sender: 'user' as const,
    client_id: clientId,
    content,
    timestamp: new Date(),
  });

  it('should create the indexes the queries use at boot', async () => {
    const names = (await model.listIndexes()).map((index) => JSON.stringify(index.key));
    expect(names).toEqual(
      expect.arrayContaining([
        '{"user_id":1,"last_activity":-1}',
        '{"is_active":1,"last_activity":1}',
        '{"start_time":-1}',
      ]),
    );
  });

  // FerretDB 1.24's SQLite backend pushed down only a filter of `_id` alone, and even then SQLite
  // scanned the table (its `_id` lookup was another expression than its `_id` index); the build in
  // scripts/ferretdb.sh is patched so an append's compare-and-set filter searches the index.
  it('should find a compare-and-set append through the _id index, not by scanning every session', async () => {
    const { session } = await service.open(uniqueUser(), undefined, 'demo');
    const explained = await model.db.db!.command({
      explain: {
        find: model.collection.collectionName,
        // an owner's append, as SessionsRepository.append guards it (the owner, not deleted)
        filter: {
          _id: session.id,
          seq: 0,
          bytes: { $lte: 1000 },
          user_id: session.user_id,
          deleted: { $ne: true },
          'messages.dedup': { $ne: 'user:c' },
        },
      },
    });
    expect(explained.filterPushdown).toBe(true);
    expect(explained.queryPlanner.Plan.join('\n')).toMatch(/SEARCH \S+ USING INDEX \S+__id_/);
  });

  it('should encrypt content at rest and give readers plain text', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await service.append(session.id, {
      type: 'user_message',
      sender: 'user',
      client_id: 'c',
      content: 'top secret words',
    });
    const raw = await model.collection.findOne({ _id: session.id as never });
    expect(JSON.stringify(raw)).not.toContain('top secret words');
    expect(raw?.messages[0].content).toMatch(/^[\w-]{8}\.[\w-]+\.[\w-]+$/);
    const read = await repository.findOwnedWithMessages(session.id, user);
    expect(read?.messages[0].content).toBe('top secret words');
    expect(await repository.findOwnedWithMessages(session.id, 'someone-else')).toBeNull();
  });

  it('should keep seq gapless and ordered under concurrent sends from several devices', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const sends = Array.from({ length: 30 }, (_, index) =>
      service.append(session.id, {
        type: 'user_message',
        sender: 'user',
        client_id: `d${index}`,
        content: `m${index}`,
      }),
    );
    const results = await Promise.all(sends);
    expect(results.map((result) => result.message.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    // stored order is the order of seq, and each message's seq matches what its sender was told
    const stored = await repository.messagesAfter(session.id, user, 0);
    expect(stored.map((message) => message.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const result of results)
      expect(stored[result.message.seq - 1].client_id).toBe(result.message.client_id);
  });

  it('should resolve seq conflicts between two writers (as two instances would be) by compare-and-set', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const other = new SessionsService(repository, module.get(AssistanceRepository), settings);
    await service.append(session.id, {
      type: 'user_message',
      sender: 'user',
      client_id: 'a',
      content: 'one',
    });
    // `other` has no cached seq; `service` now has a stale one after `other` writes
    await other.append(session.id, {
      type: 'user_message',
      sender: 'user',
      client_id: 'b',
      content: 'two',
    });
    const third = await service.append(session.id, {
      type: 'user_message',
      sender: 'user',
      client_id: 'c',
      content: 'three',
    });
    expect(third.message.seq).toBe(3);
    expect((await repository.messagesAfter(session.id, user, 0)).map((message) => message.content)).toEqual([
      'one',
      'two',
      'three',
    ]);
  });

  // docs/protocol.md, "The store": appends that return nothing (replies, events) and plain updates
  // (a rename) of many sessions at once share one bulkWrite per batch; an append whose
  // compare-and-set fails in a batch (another instance wrote meanwhile) is found out from the logs,
  // retried at the next seq, and stored once, while the rest of its batch is stored once too
  it('should store appends and renames of many sessions at once in a few shared commands, each once, a conflict included', async () => {
    const opened = await Promise.all(
      Array.from({ length: 20 }, () => service.open(uniqueUser(), undefined, 'demo')),
    );
    const ids = opened.map((entry) => entry.session.id);
    // another instance appends to the first session: this one's seq for it is now stale
    const other = new SessionsService(repository, module.get(AssistanceRepository), settings);
    await other.append(ids[0], {
      type: 'ai_response',
      sender: 'ai',
      content: 'elsewhere',
    });
    const reply = (index: number) => ({
      type: 'ai_response' as const,
      sender: 'ai' as const,
      content: `reply ${index}`,
      timestamp: new Date(),
    });
    let stored: Array<Awaited<ReturnType<typeof service.append>>> = [];
    const commands = await commandsOf(async () => {
      stored = await Promise.all(ids.map((id, index) => service.append(id, reply(index))));
    });
    expect(commands.filter((command) => command === 'update').length).toBeLessThanOrEqual(4);
    expect(commands.length).toBeLessThanOrEqual(8);
    expect(stored.map((entry) => entry.message.seq)).toEqual(ids.map((_, index) => (index === 0 ? 2 : 1)));
    for (const [index, id] of ids.entries()) {
      const log = await repository.messagesAfter(id, opened[index].session.user_id, 0);
      expect(log.map((message) => message.content)).toEqual(
        index === 0 ? ['elsewhere', 'reply 0'] : [`reply ${index}`],
      );
    }
    const renames = await commandsOf(() =>
      Promise.all(
        ids.map((id, index) => service.retitle(id, opened[index].session.user_id, `Named ${index}`)),
      ),
    );
    // each title is one write, whose filter is the check (has the owner named it?): shared, no read
    expect(renames.filter((command) => command === 'update').length).toBeLessThanOrEqual(3);
    expect(renames).not.toContain('find');
    const names = await model
      .find({ _id: { $in: ids } }, { name: 1 })
      .lean<Array<{ _id: string; name: string }>>();
    expect(new Map(names.map((entry) => [entry._id, entry.name]))).toEqual(
      new Map(ids.map((id, index) => [id, `Named ${index}`])),
    );
  });

  // docs/protocol.md, "Session titles": a title never replaces its owner's name, nor names a session
  // its owner deleted or another user's; in a batch with titles that land, each is answered alone
  it("should answer each title of a batch alone: renamed, or refused over the owner's name, a deleted session or another user's", async () => {
    const opened = await Promise.all(
      Array.from({ length: 4 }, () => service.open(uniqueUser(), undefined, 'demo')),
    );
    const [named, deleted, free, foreign] = opened.map((entry) => entry.session);
    await service.updateOwned(named.id, named.user_id, { name: 'Mine' });
    await repository.update(deleted.id, { deleted: true });
    const answers = await Promise.all([
      service.retitle(named.id, named.user_id, 'Title 1'),
      service.retitle(deleted.id, deleted.user_id, 'Title 2'),
      service.retitle(free.id, free.user_id, 'Title 3'),
      service.retitle(foreign.id, uniqueUser(), 'Title 4'),
    ]);
    expect(answers).toEqual([false, false, true, false]);
    const names = await model
      .find({ _id: { $in: opened.map((entry) => entry.session.id) } }, { name: 1 })
      .lean<Array<{ _id: string; name: string }>>();
    expect(new Map(names.map((entry) => [entry._id, entry.name]))).toEqual(
      new Map([
        [named.id, 'Mine'],
        [deleted.id, 'New chat'],
        [free.id, 'Title 3'],
        [foreign.id, 'New chat'],
      ]),
    );
  });

  it("should return the session as written with an owner's message, and store nothing in another user's", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const message = (content: string) => sent(content);
    await service.append(session.id, message('one'));
    const second = await service.append(session.id, message('two'), undefined, {
      owner: user,
      withSession: true,
    });
    expect(second.session).toMatchObject({ id: session.id, seq: 2, user_id: user, model_id: 'demo' });
    expect(second.session?.messages.map((stored) => [stored.seq, stored.content])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    // the counters moved in the same write (the session as written carries no counters: SessionHead)
    expect(await repository.findOwned(session.id, user)).toMatchObject({ seq: 2, message_count: 2 });
    await expect(
      service.append(session.id, message('intruder'), undefined, { owner: uniqueUser(), withSession: true }),
    ).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
    expect(await repository.messagesAfter(session.id, user, 0)).toHaveLength(2);
  });

  // docs/protocol.md, "Session library": a session its owner deleted takes no more of their messages,
  // whether this instance held its log (the delete on another instance: the append's filter refuses
  // it, with no read before) or not; the delete's own instance forgets the seq, so it reads once
  it('should store nothing its owner sends to a deleted session, whatever this instance holds of it', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const other = new SessionsService(repository, module.get(AssistanceRepository), settings);
    await service.append(session.id, sent('before'), undefined, { owner: user });
    expect(await other.softDelete(session.id, user)).toEqual({ ended: true });
    // `service` still holds the log at seq 1: the one command is the refused write (and its reason)
    const commands = await commandsOf(() =>
      expect(
        service.append(session.id, sent('held'), undefined, { owner: user, withSession: true }),
      ).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND }),
    );
    expect(commands[0]).toBe('update');
    await expect(service.append(session.id, sent('plain'), undefined, { owner: user })).rejects.toMatchObject(
      {
        code: ErrorCode.NOT_FOUND,
      },
    );
    await expect(other.append(session.id, sent('deleter'), undefined, { owner: user })).rejects.toMatchObject(
      {
        code: ErrorCode.NOT_FOUND,
      },
    );
    const stored = await repository.findAnyWithMessages(session.id);
    expect(stored?.messages.map((message) => message.client_id)).toEqual(['before']);
    expect(stored).toMatchObject({ seq: 1, message_count: 1 });
  });

  // with the log held (this instance wrote last) the head comes from the copy, proven by the write's
  // guards; without it, the store returns all of the document: both give the session's head and log
  // exactly as a fresh read does, never the blind index
  it('should return the same session from an append whether this instance held its log or not', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const message = (content: string) => sent(content, `${content} words to index`);
    const held = await service.append(session.id, message('held'), undefined, {
      owner: user,
      withSession: true,
    });
    service.forget(session.id);
    const cold = await service.append(session.id, message('cold'), undefined, {
      owner: user,
      withSession: true,
    });
    const warm = await service.append(session.id, message('warm'), undefined, {
      owner: user,
      withSession: true,
    });
    const read = await repository.findOwnedWithMessages(session.id, user);
    const view = (written: typeof warm.session) => ({
      id: written?.id,
      user_id: written?.user_id,
      name: written?.name,
      model_id: written?.model_id,
      seq: written?.seq,
      assisting_admin_id: written?.assisting_admin_id,
      last_activity: written?.last_activity,
      messages: written?.messages.map(({ seq, content, client_id }) => ({ seq, content, client_id })),
    });
    expect(held.session?.messages.map((stored) => stored.seq)).toEqual([1]);
    expect(cold.session?.messages.map((stored) => stored.seq)).toEqual([1, 2]);
    expect(view(warm.session)).toEqual(view(read ?? undefined));
    for (const written of [held.session, cold.session, warm.session])
      expect(written).not.toHaveProperty('search_tokens');
    // a message keeps no search tokens of its own: the session's index finds it (docs/protocol.md,
    // "Search"), and each token list was ~10× its text, rewritten with the document on every append
    const raw = await model.findById(session.id).lean();
    expect(raw?.messages.map((stored) => Object.keys(stored).filter((key) => key === 'search'))).toEqual(
      raw?.messages.map(() => []),
    );
    // nor does the session: its index is written apart, once per turn, after the acks
    expect(raw?.search_tokens).toEqual([]);
    await module.get(SessionTermsIndexer).flush();
    const terms = await model.db.collection('session_terms').findOne({ _id: session.id as never });
    expect(terms).toMatchObject({ user_id: user, indexed_seq: 3 });
    expect(terms?.tokens.length).toBeGreaterThan(0);
  });

  it("should keep the user's open turn in the session head, append by append", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const head = async () => (await service.getOwned(session.id, user))?.open_turn_seq;
    expect(await head()).toBeNull();
    const question = await service.append(session.id, {
      type: 'user_message',
      sender: 'user',
      content: 'q',
    });
    expect(await head()).toBe(question.message.seq);
    // a help request or a takeover event leaves the question open
    await service.append(session.id, { type: 'help_request', sender: 'user' });
    await service.append(session.id, { type: 'admin_join', sender: 'admin' });
    expect(await head()).toBe(question.message.seq);
    await service.append(session.id, { type: 'user_message', sender: 'admin', content: 'a' });
    expect(await head()).toBeNull();
    await service.append(session.id, { type: 'voice_message', sender: 'user', content: 'v' });
    await service.append(session.id, { type: 'ai_response', sender: 'ai', content: 'r' });
    expect(await head()).toBeNull();
  });

  // A reply to a turn is stored only while the turn is unanswered (AppendOptions.unanswered): the
  // pause audit of session 43 had an instance paused past its reply lease store its reply after the
  // other instance had answered the turn (6 of 6 rounds). Checked by the write itself, on this
  // instance's copy of the log and on a stale one alike; a regeneration is not held to it
  it('should store a reply to a turn only while the turn is unanswered, whichever instance wrote last', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const other = new SessionsService(repository, module.get(AssistanceRepository), settings);
    const reply = (content: string, turn: number) =>
      ({ type: 'ai_response', sender: 'ai', content, metadata: { reply_to: `t${turn}` } }) as const;
    const answer = (on: SessionsService, content: string, turn: number) =>
      on.append(session.id, reply(content, turn), { answersTurn: turn }, { unanswered: turn }).then(
        () => 'stored',
        (error: unknown) => (error instanceof TurnAnswered ? 'answered' : String(error)),
      );
    await service.append(session.id, sent('q1'), undefined, { owner: user });
    expect(await answer(other, 'r1 elsewhere', 1)).toBe('stored');
    expect(await answer(service, 'r1 here', 1)).toBe('answered');
    await service.append(
      session.id,
      { ...reply('r1 again', 1), metadata: { alternative_of: 'x' } },
      {
        answersTurn: 1,
      },
    );
    await service.append(session.id, sent('q2'), undefined, { owner: user });
    expect(await answer(service, 'r2', 4)).toBe('stored');
    expect(await answer(other, 'r1 late', 1)).toBe('answered');
    expect((await repository.messagesAfter(session.id, user, 0)).map((message) => message.content)).toEqual([
      'q1',
      'r1 elsewhere',
      'r1 again',
      'q2',
      'r2',
    ]);
    expect(await service.getOwned(session.id, user)).toMatchObject({ answered_turn_seq: 4, seq: 5 });
  });

  it('should store a client_id once and report the duplicate', async () => {
    const { session } = await service.open(uniqueUser(), undefined, 'demo');
    const message = {
      type: 'user_message' as const,
      sender: 'user' as const,
      client_id: 'same',
      content: 'hi',
      timestamp: new Date(),
    };
    const first = await service.append(session.id, message);
    const second = await service.append(session.id, message);
    expect(second).toEqual({
      message: { ...first.message, metadata: undefined, file_id: undefined, model_id: undefined },
      duplicate: true,
    });
  });

  // the commands an operation sends to the store (the driver's own housekeeping left out)
  async function commandsOf(task: () => Promise<unknown>): Promise<string[]> {
    // the index writes earlier tests left due go first: they are not the task's
    await module.get(SessionTermsIndexer).flush();
    return commandsDuring(model.db.getClient(), task);
  }
  // StoreMetrics counts store commands from mongoose's 'operation-start' (the driver's command
  // monitoring decodes every reply twice): each command the repository sends raises one, the
  // appends that go to the driver through mongoose's collection included
  it('should raise one mongoose operation-start per command the sessions repository sends', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await module.get(SessionTermsIndexer).flush();
    const operations: string[] = [];
    const listener = (event: { method: string }) => operations.push(event.method);
    model.db.on('operation-start', listener);
    let commands: string[] = [];
    try {
      commands = await commandsOf(async () => {
        await service.append(session.id, sent('one'), undefined, { owner: user, withSession: true });
        await service.append(session.id, sent('two'));
        await repository.findOwned(session.id, user);
        await service.setModel(session.id, 'gpt');
        // with no copy held (and no client_id to look up), the session comes back from the write
        service.forget(session.id);
        await service.append(session.id, { ...sent('three'), client_id: undefined }, undefined, {
          owner: user,
          withSession: true,
        });
      });
    } finally {
      model.db.off('operation-start', listener);
    }
    expect(commands).toEqual(['update', 'update', 'find', 'update', 'find', 'findAndModify']);
    // lone writes go as the single-document command (a batch of one)
    expect(operations).toEqual([
      'updateOne',
      'updateOne',
      'find',
      'updateOne',
      'findOne',
      'findOneAndUpdate',
    ]);
  });

  // docs/protocol.md, "Opening a session": a lone new user's open reads the pointer, inserts it and
  // the session; a returning user's reads the pointer and the session's head, and writes nothing
  it("should open a lone new user's session in three commands and a returning user's in two reads", async () => {
    const user = uniqueUser();
    let opened: Awaited<ReturnType<typeof service.open>> | undefined;
    expect(await commandsOf(async () => (opened = await service.open(user, undefined, 'demo')))).toEqual([
      'find',
      'insert',
      'insert',
    ]);
    expect(opened).toMatchObject({ restored: false, session: { user_id: user, seq: 0, is_active: true } });
    const pointers = model.db.collection<{ _id: string; session_id: string }>('current_sessions');
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: opened!.session.id });
    expect(await model.countDocuments({ _id: opened!.session.id, user_id: user, is_active: true })).toBe(1);
    let again: Awaited<ReturnType<typeof service.open>> | undefined;
    expect(await commandsOf(async () => (again = await service.open(user, undefined, 'demo')))).toEqual([
      'find',
      'find',
    ]);
    expect(again).toMatchObject({ restored: true, session: { id: opened!.session.id } });
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: opened!.session.id });
  });

  // Users connecting together (a replica's clients reconnecting after a restart) share the commands:
  // those that arrive while a batch is in flight go in the next one. Before, each new user cost two
  // commands of their own (100 for 50 users), each returning user two reads.
  it('should open many users at once in a few shared commands, each user with their own session', async () => {
    const users = Array.from({ length: 50 }, () => uniqueUser());
    let opened: Array<Awaited<ReturnType<typeof service.open>>> = [];
    const first = await commandsOf(
      async () => (opened = await Promise.all(users.map((user) => service.open(user, undefined, 'demo')))),
    );
    expect(first.length).toBeLessThanOrEqual(9);
    expect(new Set(opened.map((entry) => entry.session.id)).size).toBe(50);
    opened.forEach((entry, index) =>
      expect(entry).toMatchObject({ restored: false, session: { user_id: users[index], is_active: true } }),
    );
    const pointers = model.db.collection<{ _id: string; session_id: string }>('current_sessions');
    const stored = await pointers.find({ _id: { $in: users } }).toArray();
    expect(new Map(stored.map((pointer) => [pointer._id, pointer.session_id]))).toEqual(
      new Map(opened.map((entry, index) => [users[index], entry.session.id])),
    );
    expect(await model.countDocuments({ user_id: { $in: users }, is_active: true })).toBe(50);
    let again: Array<Awaited<ReturnType<typeof service.open>>> = [];
    const returning = await commandsOf(
      async () => (again = await Promise.all(users.map((user) => service.open(user, undefined, 'demo')))),
    );
    expect(returning.length).toBeLessThanOrEqual(6);
    expect(returning.every((command) => command === 'find')).toBe(true);
    again.forEach((entry, index) =>
      expect(entry).toMatchObject({ restored: true, session: { id: opened[index].session.id } }),
    );
  });

  it('should open a new session for a user whose pointer names a session that was never stored', async () => {
    // an instance that died between the pointer's claim and the session's insert
    const user = uniqueUser();
    const pointers = model.db.collection<{ _id: string; session_id: string; updated_at: Date }>(
      'current_sessions',
    );
    await pointers.insertOne({ _id: user, session_id: randomUUID(), updated_at: new Date() });
    const opened = await service.open(user, undefined, 'demo');
    expect(opened.restored).toBe(false);
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: opened.session.id });
    expect(await model.countDocuments({ user_id: user, is_active: true })).toBe(1);
    expect(await service.open(user, undefined, 'demo')).toMatchObject({
      restored: true,
      session: { id: opened.session.id },
    });
  });

  // docs/protocol.md, "The store": the client_id check reads the log this instance holds when it is
  // the store's (its seq is the one the append expects), so a turn costs the append alone
  // docs/protocol.md, "Coalesced writes": a user's message stored with the copy this instance holds is
  // guarded on the copy's owner, model, assisting admin and name, so a write made elsewhere (another
  // instance, which moves no seq) is never hidden by the copy: the guard fails, the copy is dropped
  // and the message is stored once, the session coming back as the store has it
  it.each([
    [
      // as an instance of an earlier version mirrored a takeover: apart from the log, moving no seq
      'a takeover',
      (id: string) =>
        model.updateOne(
          { _id: id },
          {
            $set: {
              assisting_admin_id: 'admin-1',
              assisting_admin_name: 'Ann',
              takeover_started_at: new Date(),
            },
          },
        ),
      { assisting_admin_id: 'admin-1' },
    ],
    ['a model', (id: string) => repository.update(id, { model_id: 'gpt' }), { model_id: 'gpt' }],
    [
      'a name',
      (id: string) => repository.update(id, { name: 'Named elsewhere' }),
      { name: 'Named elsewhere' },
    ],
  ] as const)(
    'should store a message once over %s set elsewhere, returning the session as stored, not as held',
    async (_what, elsewhere, expected) => {
      const user = uniqueUser();
      const { session } = await service.open(user, undefined, 'demo');
      const first = await service.append(session.id, sent('one', 'Hello there'), undefined, {
        owner: user,
        withSession: true,
      });
      expect(first.session).toMatchObject({ seq: 1, assisting_admin_id: null, model_id: 'demo' });
      await elsewhere(session.id);
      let second: Awaited<ReturnType<typeof service.append>> | undefined;
      const commands = await commandsOf(
        async () =>
          (second = await service.append(session.id, sent('two'), undefined, {
            owner: user,
            withSession: true,
          })),
      );
      // the guarded write (refused), its batch's read of the log (was it stored?), the read that
      // explains it, the write without the copy
      expect(commands).toEqual(['update', 'find', 'find', 'findAndModify']);
      expect(second).toMatchObject({
        duplicate: false,
        message: { seq: 2 },
        session: { seq: 2, ...expected },
      });
      expect(
        (await repository.messagesAfter(session.id, user, 0)).map((message) => message.client_id),
      ).toEqual(['one', 'two']);
      // the copy is the store's again: the next message is one guarded write
      const third = await commandsOf(() =>
        service.append(session.id, sent('three'), undefined, { owner: user, withSession: true }),
      );
      expect(third).toEqual(['update']);
    },
  );

  // this instance's own writes outside the log's seq are made to its copy too: the next message's
  // guards hold, and it is one write
  it("should store the next message in one write after this instance's own renames", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const next = (clientId: string) =>
      commandsOf(() =>
        service.append(session.id, sent(clientId), undefined, { owner: user, withSession: true }),
      );
    expect(await next('one')).toEqual(['update']);
    await service.retitle(session.id, user, 'A title');
    expect(await next('two')).toEqual(['update']);
    await service.updateOwned(session.id, user, { name: 'My name' });
    expect(await next('three')).toEqual(['update']);
    const other = (await service.open(uniqueUser(), undefined, 'demo')).session;
    await service.nameFromFirstMessage(other, 'Words that name it');
    expect(
      await commandsOf(() =>
        service.append(other.id, sent('x'), undefined, { owner: other.user_id, withSession: true }),
      ),
    ).toEqual(['update']);
    expect(await repository.findOwned(session.id, user)).toMatchObject({ name: 'My name', seq: 3 });
    expect(await repository.findOwned(other.id, other.user_id)).toMatchObject({ name: 'Words that name it' });
  });

  it("should store many users' messages at once in a few shared commands, each session coming back whole", async () => {
    const opened = await Promise.all(
      Array.from({ length: 20 }, () => service.open(uniqueUser(), undefined, 'demo')),
    );
    let stored: Array<Awaited<ReturnType<typeof service.append>>> = [];
    const commands = await commandsOf(async () => {
      stored = await Promise.all(
        opened.map(({ session }, index) =>
          service.append(session.id, sent(`m${index}`, `Question ${index}`), undefined, {
            owner: session.user_id,
            withSession: true,
            nameFrom: `Question ${index}`,
          }),
        ),
      );
    });
    // one findAndModify each before: now the shared bulks of the appends that return nothing
    expect(commands).not.toContain('findAndModify');
    expect(commands.filter((command) => command === 'update').length).toBeLessThanOrEqual(4);
    for (const [index, { session }] of opened.entries()) {
      expect(stored[index]).toMatchObject({
        named: `Question ${index}`,
        session: { id: session.id, user_id: session.user_id, seq: 1, name: `Question ${index}` },
      });
      expect(stored[index].session?.messages.map((message) => message.content)).toEqual([
        `Question ${index}`,
      ]);
      expect(await repository.findOwned(session.id, session.user_id)).toMatchObject({
        seq: 1,
        message_count: 1,
        name: `Question ${index}`,
      });
    }
  });

  it('should store a message with one command, and answer its resend with none, where the log is held', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await service.append(session.id, sent('one'));
    const commands = await commandsOf(() =>
      service.append(session.id, sent('two'), undefined, { owner: user }),
    );
    expect(commands).toEqual(['update']);
    let resend: Awaited<ReturnType<typeof service.append>> | undefined;
    expect(await commandsOf(async () => (resend = await service.append(session.id, sent('two'))))).toEqual(
      [],
    );
    expect(resend).toMatchObject({ duplicate: true, message: { seq: 2, client_id: 'two' } });
    expect((await repository.messagesAfter(session.id, user, 0)).map((stored) => stored.client_id)).toEqual([
      'one',
      'two',
    ]);
  });

  // docs/protocol.md, "One record path" (step 4): the first message with text names the session in
  // the write that stores it, when this instance knows the session still has the default name
  it("should store a session's first message and the name it gives in one command", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    let first: Awaited<ReturnType<typeof service.append>> | undefined;
    const commands = await commandsOf(
      async () =>
        (first = await service.append(session.id, sent('one', 'Plan a trip to Lisbon'), undefined, {
          owner: user,
          withSession: true,
          nameFrom: 'Plan a trip to Lisbon',
        })),
    );
    expect(commands).toEqual(['update']);
    expect(first).toMatchObject({
      named: 'Plan a trip to Lisbon',
      session: { name: 'Plan a trip to Lisbon' },
    });
    expect(await repository.findOwned(session.id, user)).toMatchObject({ name: 'Plan a trip to Lisbon' });
    // the name is searchable as a name given by a rename is (title_tokens)
    expect(await service.search('lisbon', { userId: user, isAdmin: false })).toEqual(
      expect.arrayContaining([expect.objectContaining({ session_id: session.id })]),
    );
    // a later message names nothing: the session has its name
    const second = await service.append(session.id, sent('two', 'Something else'), undefined, {
      owner: user,
      withSession: true,
      nameFrom: 'Something else',
    });
    expect(second.named).toBeUndefined();
    expect(second.session?.name).toBe('Plan a trip to Lisbon');
  });

  it('should name nothing from a text of markdown marks alone', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    let stored: Awaited<ReturnType<typeof service.append>> | undefined;
    const commands = await commandsOf(
      async () =>
        (stored = await service.append(session.id, sent('marks', '## **'), undefined, {
          owner: user,
          withSession: true,
          nameFrom: '## **',
        })),
    );
    expect(commands).toEqual(['update']);
    expect(stored?.named).toBeUndefined();
    expect(stored?.session?.name).toBe('New chat');
  });

  it('should keep a name given elsewhere meanwhile, storing the message once and naming nothing', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    // another instance (a rename through the REST API) names the session; this one still holds it
    // with the default name
    await repository.update(session.id, { name: 'Chosen elsewhere' });
    const stored = await service.append(session.id, sent('one', 'First words'), undefined, {
      owner: user,
      withSession: true,
      nameFrom: 'First words',
    });
    expect(stored.named).toBeUndefined();
    expect(stored).toMatchObject({
      duplicate: false,
      message: { seq: 1 },
      session: { name: 'Chosen elsewhere' },
    });
    expect((await repository.findOwned(session.id, user))?.name).toBe('Chosen elsewhere');
    expect((await repository.messagesAfter(session.id, user, 0)).map((message) => message.seq)).toEqual([1]);
  });

  it('should find a resend stored by another instance, whatever this one knows of the session', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await service.append(session.id, sent('a'));
    // an instance that knows nothing, one that knows the seq (as a connect leaves it), one whose
    // copy of the log is old (it wrote last before `service` did)
    const instance = () => new SessionsService(repository, module.get(AssistanceRepository), settings);
    const [cold, seeded, stale] = [instance(), instance(), instance()];
    await stale.append(session.id, sent('b'), undefined, { withSession: true });
    const third = await service.append(session.id, sent('c'));
    seeded.remember((await service.getAny(session.id))!);
    for (const other of [cold, seeded, stale]) {
      const again = await other.append(session.id, sent('c'));
      expect(again).toMatchObject({ duplicate: true, message: { seq: 3, id: third.message.id } });
    }
    // a write that reached the store while its instance never heard back (the answer lost)
    await repository.append(session.id, 3, { ...sent('d'), id: randomUUID() }, settings.maxSessionBytes);
    expect(await service.append(session.id, sent('d'))).toMatchObject({
      duplicate: true,
      message: { seq: 4 },
    });
    expect((await repository.messagesAfter(session.id, user, 0)).map((stored) => stored.client_id)).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
  });

  // docs/protocol.md, "Takeover handoff": the session's mirror of who assists changes only with the
  // log's admin_join (set, when no takeover is mirrored) and admin_leave (cleared, when this one is),
  // and an admin's message is stored only while the session mirrors that admin's very takeover, so
  // the log shows one admin at a time and each admin's messages between their own join and leave,
  // whichever instance writes and whatever copy of the session it holds.
  it("should log a takeover's join and leave with its mirror, and an admin's message only within it", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await service.append(session.id, sent('u1'), undefined, { withSession: true });
    const takeover = { sessionId: session.id, adminId: 'ada', adminName: 'Ada', startedAt: new Date() };
    const event = (type: 'admin_join' | 'admin_leave') => ({
      type,
      sender: 'admin' as const,
      timestamp: new Date(),
      metadata: { admin_name: 'Ada' },
    });
    const fromAda = (clientId: string) => ({
      type: 'user_message' as const,
      sender: 'admin' as const,
      client_id: clientId,
      content: clientId,
      timestamp: new Date(),
      metadata: { admin_name: 'Ada' },
    });
    const codeOf = (written: Promise<unknown>) =>
      written.then(
        () => undefined,
        (error: unknown) => (error instanceof DomainException ? error.code : error),
      );
    const join = (writer: SessionsService, mirror: typeof takeover) =>
      writer.append(session.id, event('admin_join'), undefined, {
        withSession: true,
        takeover: null,
        mirror: { start: mirror },
      });
    const leave = (writer: SessionsService, mirror: typeof takeover) =>
      writer.append(session.id, event('admin_leave'), undefined, {
        withSession: true,
        takeover: mirror,
        mirror: { end: mirror, at: new Date(mirror.startedAt.getTime() + 500) },
      });
    expect(await join(service, takeover)).toMatchObject({
      message: { seq: 2 },
      session: { assisting_admin_id: 'ada' },
    });
    // a second join while Ada's takeover is mirrored: refused, whoever asks
    const other = new SessionsService(repository, module.get(AssistanceRepository), settings);
    expect(await codeOf(join(other, { ...takeover, adminId: 'bob', adminName: 'Bob' }))).toBe(
      ErrorCode.SESSION_LOCKED,
    );
    expect(
      await service.append(session.id, fromAda('a1'), undefined, { withSession: true, takeover }),
    ).toMatchObject({ duplicate: false, message: { seq: 3 } });
    expect(await service.assistanceState(session.id)).toMatchObject({ takeover });
    // `service` holds the log with Ada assisting; another instance logs her leave
    expect(await leave(other, takeover)).toMatchObject({ message: { seq: 4 } });
    expect(await codeOf(leave(service, takeover))).toBe(ErrorCode.SESSION_LOCKED);
    const message = (clientId: string, mirror = takeover) =>
      codeOf(
        service.append(session.id, fromAda(clientId), undefined, { withSession: true, takeover: mirror }),
      );
    expect(await message('a2')).toBe(ErrorCode.SESSION_LOCKED);
    // Ada again, in a takeover of her own: a message of the earlier one is still refused
    const again = { ...takeover, startedAt: new Date(takeover.startedAt.getTime() + 1000) };
    await join(other, again);
    expect(await message('a3')).toBe(ErrorCode.SESSION_LOCKED);
    expect(await message('a4', again)).toBeUndefined();
    expect(
      (await repository.messagesAfter(session.id, user, 0)).map((stored) => stored.client_id ?? stored.type),
    ).toEqual(['u1', 'admin_join', 'a1', 'admin_leave', 'admin_join', 'a4']);
    const stored = await model.findById(session.id).lean();
    expect(stored).toMatchObject({
      admin_assisted: true,
      assisting_admin_id: 'ada',
      assisting_admin_name: 'Ada',
    });
    expect(stored?.takeovers).toEqual([
      {
        admin_id: 'ada',
        admin_name: 'Ada',
        start: takeover.startedAt,
        end: new Date(takeover.startedAt.getTime() + 500),
      },
    ]);
  });

  // a takeover's join and leave are logged whatever the session's size: the mirror goes with them
  it("should log a takeover's join and leave in a session at its size bound", async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const small = new SessionsService(repository, module.get(AssistanceRepository), {
      ...settings,
      maxSessionBytes: 2000,
    });
    // filled until a message no longer fits
    let full: unknown;
    for (let index = 0; index < 20 && !full; index++)
      full = await small.append(session.id, sent(`u${index}`, 'x'.repeat(200))).then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(full).toMatchObject({ code: ErrorCode.SESSION_FULL });
    const takeover = { sessionId: session.id, adminId: 'ada', adminName: 'Ada', startedAt: new Date() };
    const event = (type: 'admin_join' | 'admin_leave') => ({
      type,
      sender: 'admin' as const,
      timestamp: new Date(),
    });
    await small.append(session.id, event('admin_join'), undefined, {
      takeover: null,
      mirror: { start: takeover },
    });
    await small.append(session.id, event('admin_leave'), undefined, {
      takeover,
      mirror: { end: takeover, at: new Date() },
    });
    expect(
      (await repository.messagesAfter(session.id, user, 0)).map((stored) => stored.type).slice(-3),
    ).toEqual(['user_message', 'admin_join', 'admin_leave']);
  });

  // the append reaches the driver without mongoose's casting: what it stores is the schema's shape
  it('should store only the fields of the schema, typed as the schema types them', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const extra = { ...sent('shape', 'secret words'), model_id: 'demo', metadata: { n: 1 }, stray: 'x' };
    await service.append(session.id, extra as never, undefined, { owner: user, withSession: true });
    const raw = await model.collection.findOne({ _id: session.id as never });
    const [stored] = raw?.messages as Array<Record<string, unknown>>;
    expect(Object.keys(stored).sort()).toEqual([
      'client_id',
      'content',
      'dedup',
      'id',
      'metadata',
      'model_id',
      // no 'search': the session holds the blind index (docs/protocol.md, "Search")
      'sender',
      'seq',
      'timestamp',
      'type',
    ]);
    expect(stored.timestamp).toBeInstanceOf(Date);
    expect(stored.content).not.toContain('secret');
    expect(raw).toMatchObject({
      seq: 1,
      message_count: 1,
      open_turn_seq: 1,
      last_message_at: expect.any(Date),
    });
  });

  // the insert goes to the driver (no mongoose save): the stored document must be the schema's, with
  // every default, exactly as mongoose's create stores it
  it("should store a new session as mongoose's create does, every default of the schema included", async () => {
    // a user's session and an admin's dashboard session (console): each stored document against the
    // one mongoose's create stores for the same fields, keys in the same order (what a reader of the
    // raw BSON, decodeHead, walks); two opens also show the defaults are not shared between them
    for (const console of [false, true]) {
      const user = uniqueUser();
      const { session } = await service.open(user, undefined, 'demo', { console });
      const viaDriver = await model.collection.findOne({ _id: session.id as never });
      const twin = randomUUID();
      await model.create({
        _id: twin,
        ...(console ? { console: true } : {}),
        user_id: user,
        name: session.name,
        model_id: 'demo',
        is_active: true,
        start_time: session.start_time,
        last_activity: session.start_time,
      });
      const viaMongoose = await model.collection.findOne({ _id: twin as never });
      expect({ ...viaDriver, _id: twin }).toEqual(viaMongoose);
      expect(Object.keys(viaDriver!)).toEqual(Object.keys(viaMongoose!));
      expect(viaDriver!.messages).toEqual([]);
    }
  });

  it('should refuse with SESSION_FULL once the document reaches its size bound, storing nothing', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const small = new SessionsService(repository, module.get(AssistanceRepository), {
      ...settings,
      maxSessionBytes: 4096,
    });
    let error: unknown;
    for (let index = 0; index < 50 && !error; index++) {
      await small
        .append(session.id, {
          type: 'user_message',
          sender: 'user',
          client_id: `f${index}`,
          content: randomBytes(300).toString('hex'),
        })
        .catch((caught: unknown) => (error = caught));
    }
    expect(error).toBeInstanceOf(DomainException);
    expect((error as DomainException).code).toBe(ErrorCode.SESSION_FULL);
    const stored = await repository.findOwned(session.id, user);
    expect(stored?.bytes).toBeLessThanOrEqual(4096);
    expect(stored?.message_count).toBe(stored?.seq);
  });

  it('should restore an active session within RECONNECT_TIMEOUT and start a new one after it', async () => {
    const user = uniqueUser();
    const first = await service.open(user, undefined, 'demo');
    expect(first.restored).toBe(false);
    const again = await service.open(user, undefined, 'demo');
    expect(again).toMatchObject({ restored: true, session: { id: first.session.id } });
    await model.updateOne(
      { _id: first.session.id },
      { $set: { last_activity: new Date(Date.now() - 16 * 60_000) } },
    );
    const later = await service.open(user, undefined, 'demo');
    expect(later.restored).toBe(false);
    expect(later.session.id).not.toBe(first.session.id);
    const ended = await repository.findOwned(first.session.id, user);
    expect(ended?.is_active).toBe(false);
    expect(ended?.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('should let only one active session exist when a user opens from many devices at once', async () => {
    const user = uniqueUser();
    const opened = await Promise.all(Array.from({ length: 8 }, () => service.open(user, undefined, 'demo')));
    expect(new Set(opened.map((result) => result.session.id)).size).toBe(1);
    expect(await model.countDocuments({ user_id: user, is_active: true })).toBe(1);
  });

  it('should sweep idle sessions with end_time and duration, leaving fresh ones alone', async () => {
    const idleUser = uniqueUser();
    const freshUser = uniqueUser();
    const idle = (await service.open(idleUser, undefined, 'demo')).session;
    const fresh = (await service.open(freshUser, undefined, 'demo')).session;
    const lastActivity = new Date(Date.now() - 20 * 60_000);
    await model.updateOne(
      { _id: idle.id },
      { $set: { last_activity: lastActivity, start_time: new Date(lastActivity.getTime() - 5000) } },
    );
    const ended = await service.sweepIdle();
    expect(ended).toContain(idle.id);
    expect(ended).not.toContain(fresh.id);
    const swept = await repository.findOwned(idle.id, idleUser);
    expect(swept).toMatchObject({ is_active: false, duration_ms: 5000 });
    expect(swept?.end_time?.getTime()).toBe(lastActivity.getTime());
  });

  // The sweep finds idle sessions, then ends each under its lock: one touched in between (another
  // instance's keep-alive) is still in use and stays active (docs/protocol.md, "Idle sessions"); the
  // keep-alive tells which of its live sessions it found ended
  it('should not end a session touched after the sweep found it idle, and tell the keep-alive of one ended', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    const idleSince = new Date(Date.now() + 1000);
    expect(await repository.findIdle(idleSince, 10_000)).toContain(session.id);
    await service.touch([session.id], new Date(idleSince.getTime() + 1));
    expect(await repository.end(session.id, undefined, idleSince)).toBeUndefined();
    expect((await repository.findOwned(session.id, user))?.is_active).toBe(true);

    const other = (await service.open(uniqueUser(), undefined, 'demo')).session;
    expect(await repository.end(other.id, new Date())).toBeDefined();
    expect(await service.touch([session.id, other.id])).toEqual([other.id]);
    // a keep-alive writes (and so finds ended) only what this instance has not written lately
    for (const id of [session.id, other.id]) service.forget(id);
    expect(await service.keepLive([session.id, other.id])).toEqual([other.id]);
  });

  // the sweep keeps sessions with sockets here from looking idle; one this instance wrote within the
  // last sweep interval (settings: 60 s of a 15 min reconnect timeout) needs no write for that
  it('should keep live only the sessions this instance has not written within a sweep interval', async () => {
    const user = uniqueUser();
    const other = uniqueUser();
    const a = (await service.open(user, undefined, 'demo')).session;
    const b = (await service.open(other, undefined, 'demo')).session;
    await service.append(a.id, sent('a1'));
    const now = Date.now();
    expect(await commandsOf(() => service.keepLive([a.id, b.id], new Date(now + 1000)))).toEqual([]);
    const later = new Date(now + settings.sweepIntervalMs + 1000);
    expect(await commandsOf(() => service.keepLive([a.id, b.id], later))).toEqual(['update', 'update']);
    expect((await repository.findOwned(a.id, user))?.last_activity.getTime()).toBe(later.getTime());
    // kept live just now: not again at the next sweep
    expect(await commandsOf(() => service.keepLive([a.id, b.id], new Date(later.getTime() + 1000)))).toEqual(
      [],
    );
    // a session with sockets here that this instance never wrote is touched at every sweep
    service.forget(b.id);
    expect(await commandsOf(() => service.keepLive([b.id], new Date(later.getTime() + 2000)))).toEqual([
      'update',
    ]);
    // the last device leaving starts the reconnect window then, however recently it was written
    const left = new Date(later.getTime() + 3000);
    expect(await commandsOf(() => service.touch([a.id], left))).toEqual(['update']);
    expect((await repository.findOwned(a.id, user))?.last_activity.getTime()).toBe(left.getTime());
  });

  // what this instance remembers of a session (its seq, its copy, when it wrote it) is kept while the
  // session has sockets or a reply here: a session ended any other way than by this instance's own
  // sweep (resumed over, ended by another instance's sweep) left its seq remembered for good
  it('should forget, at the second sweep, the sessions with no socket and no reply here', async () => {
    const user = uniqueUser();
    const first = (await service.open(user, undefined, 'demo')).session;
    await service.append(first.id, sent('f1'));
    const second = (await service.startNew(user, 'demo')).session;
    await service.append(second.id, sent('s1'));
    // the user resumes the first: the second is ended, by nobody's sweep
    await service.open(user, first.id, 'demo');
    const replying = (await service.open(uniqueUser(), undefined, 'demo')).session;
    await service.append(replying.id, sent('r1'));
    expect(service.lastSeq(second.id)).toBe(1);
    // a first sweep marks it, the next one forgets it (a write just after the first still finds it)
    await service.keepLive([first.id], new Date(), [replying.id]);
    expect(service.lastSeq(second.id)).toBe(1);
    await service.keepLive([first.id], new Date(), [replying.id]);
    expect(service.lastSeq(second.id)).toBeUndefined();
    expect(service.snapshot(second.id)).toBeUndefined();
    expect(service.lastSeq(first.id)).toBe(1);
    expect(service.lastSeq(replying.id)).toBe(1);
    // forgotten is only a read more: the next append reads its seq again
    await service.open(user, second.id, 'demo');
    expect((await service.append(second.id, sent('s2'))).message.seq).toBe(2);
  });

  it('should resume an ended session by id, making it the one active session', async () => {
    const user = uniqueUser();
    const old = (await service.open(user, undefined, 'demo')).session;
    const current = (await service.startNew(user, 'demo')).session;
    const resumed = await service.open(user, old.id, 'demo');
    expect(resumed).toMatchObject({
      restored: true,
      replaced: current.id,
      session: { id: old.id, is_active: true },
    });
    expect(await model.countDocuments({ user_id: user, is_active: true })).toBe(1);
    await expect(service.open(uniqueUser(), old.id, 'demo')).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
    await expect(service.open(user, randomUUID(), 'demo')).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
  });

  it("should keep each user's current session in a pointer read by _id, moved by new and resumed sessions", async () => {
    const user = uniqueUser();
    const pointers = model.db.collection<{ _id: string; session_id: string }>('current_sessions');
    const first = (await service.open(user, undefined, 'demo')).session;
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: first.id });
    const second = (await service.startNew(user, 'demo')).session;
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: second.id });
    await service.open(user, first.id, 'demo');
    expect(await pointers.findOne({ _id: user })).toMatchObject({ session_id: first.id });
    // the pointer decides: a session the pointer does not name is not the user's active one
    await pointers.deleteOne({ _id: user });
    expect(await repository.findActiveForUser(user)).toBeNull();
    // an ended session it still names is not active either
    await service.startNew(user, 'demo');
    const named = (await pointers.findOne({ _id: user }))!.session_id;
    await model.updateOne({ _id: named }, { $set: { is_active: false } });
    expect(await repository.findActiveForUser(user)).toBeNull();
  });

  it('should point users at their latest active session at first boot over sessions stored without pointers', async () => {
    const backfill = { ...testSettings({ RECONNECT_TIMEOUT: '15m' }) };
    const now = Date.now();
    const user = uniqueUser();
    const seeded = {
      user_id: user,
      name: 'old',
      model_id: 'demo',
      start_time: new Date(now - 60_000),
      messages: [],
      seq: 0,
      bytes: 0,
    };
    const other = await Test.createTestingModule({
      imports: [...databaseModules(backfill), SessionsModule],
    }).compile();
    const sessions = other.get<Model<Session>>(getModelToken(Session.name)).collection;
    await sessions.insertMany([
      { ...seeded, _id: 'older' as never, is_active: true, last_activity: new Date(now - 50_000) },
      { ...seeded, _id: 'latest' as never, is_active: true, last_activity: new Date(now - 10_000) },
      { ...seeded, _id: 'ended' as never, is_active: false, last_activity: new Date(now - 1_000) },
    ]);
    await other.init();
    try {
      const opened = await other.get(SessionsService).open(user, undefined, 'demo');
      expect(opened).toMatchObject({ restored: true, session: { id: 'latest' } });
    } finally {
      await other.close();
    }
  });
});

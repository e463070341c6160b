import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { containsPattern, nameKey } from '../../src/modules/rooms/public-room-search';
import { countedOf } from '../../src/modules/rooms/room-message-unread';
import { mongoUri } from '../helpers/env';

// Every store semantic the rooms repositories rely on (src/modules/rooms/*.repository.ts), checked
// against the store in use: FerretDB 1.24 in tests, MongoDB when TEST_MONGODB_URL points at one
// (docs/protocol.md, "The store"; TTL indexes are in store-conformance.int-spec.ts).
describe('rooms store conformance', () => {
  let client: MongoClient;
  let db: Db;

  beforeAll(async () => {
    client = await new MongoClient(mongoUri(`roomconf_${randomBytes(4).toString('hex')}`)).connect();
    db = client.db();
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  const fresh = (): Collection<Record<string, unknown>> =>
    db.collection<Record<string, unknown>>(`c_${randomBytes(4).toString('hex')}`);
  const isDuplicate = (error: unknown) => (error as { code?: number }).code === 11000;

  // FerretDB's SQLite backend pushes down only `_id` in stock 1.24; scripts/ferretdb.sh's build also
  // pushes down an exact string `room_id` / `user_id` (fields chatbox only ever stores as strings) on
  // their indexes, so a room's history reads that room's rows, not the whole collection
  // (scripts/tools/ferretdb/pushdown-scalars.patch). The results are the same either way.
  it('should read one room or one user by its index, with the same results as the whole filter', async () => {
    const messages = fresh();
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    await messages.createIndex({ user_id: 1, state: 1 });
    await messages.insertMany(
      Array.from({ length: 60 }, (_, index) => ({
        room_id: `r${index % 3}`,
        seq: Math.floor(index / 3) + 1,
        user_id: `u${index % 4}`,
        state: index % 2 ? 'member' : 'left',
      })),
    );
    const build = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    const history = await messages
      .find({ room_id: 'r1', seq: { $lt: 15 } })
      .sort({ seq: -1 })
      .limit(5)
      .toArray();
    expect(history.map((message) => [message.room_id, message.seq])).toEqual([
      ['r1', 14],
      ['r1', 13],
      ['r1', 12],
      ['r1', 11],
      ['r1', 10],
    ]);
    expect(await messages.countDocuments({ room_id: 'r2', seq: { $gt: 18 } })).toBe(2);
    expect(await messages.countDocuments({ user_id: 'u1', state: 'member' })).toBe(15);
    expect(await messages.countDocuments({ room_id: 'r1', user_id: 'u1' })).toBe(5);
    if (build.ferretdbVersion !== undefined) {
      const explained = await db.command({
        explain: { find: messages.collectionName, filter: { room_id: 'r1', seq: { $lt: 15 } } },
      });
      expect(explained.filterPushdown).toBe(true);
      expect((explained.queryPlanner.Plan as string[]).join('\n')).toMatch(/USING INDEX/);
    }
  });

  // A room's page of messages (history, resume, the head, unread) is a range of the (room_id, seq)
  // index on MongoDB; scripts/ferretdb.sh's build answers it in SQLite too (pushdown-seq.patch: in the
  // chat_messages collection `seq` is indexed as a number, and its comparisons, its order and the limit
  // go down with the room id). Same results either way, checked past 9 → 10 (a text order would differ)
  // and with filters only the handler can apply, where the limit must not go down.
  it('should answer a room page by seq (ranges, order, limit) and $in lists, the same as the whole filter', async () => {
    const messages = db.collection<Record<string, unknown>>('chat_messages');
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    await messages.createIndex({ dedup_key: 1 }, { unique: true });
    await messages.insertMany(
      ['r0', 'r1', 'r2'].flatMap((room) =>
        Array.from({ length: 25 }, (_, index) => ({
          _id: `${room}-m${index + 1}` as never,
          room_id: room,
          seq: index + 1,
          sender_id: index % 2 ? 'a' : 'b',
          kind: index % 5 ? 'text' : 'system',
          dedup_key: `${room}|${index}`,
        })),
      ),
    );
    const seqs = async (filter: Record<string, unknown>, sort: 1 | -1, limit = 0, skip = 0) =>
      (await messages.find(filter).sort({ seq: sort }).skip(skip).limit(limit).toArray()).map(
        (doc) => doc.seq,
      );
    expect(await seqs({ room_id: 'r1', seq: { $lt: 15 } }, -1, 5)).toEqual([14, 13, 12, 11, 10]);
    expect(await seqs({ room_id: 'r1' }, -1, 3)).toEqual([25, 24, 23]);
    expect(await seqs({ room_id: 'r1', seq: { $gt: 8 } }, 1, 4)).toEqual([9, 10, 11, 12]);
    expect(await seqs({ room_id: 'r2', seq: { $gte: 9, $lte: 11 } }, 1)).toEqual([9, 10, 11]);
    expect(await seqs({ room_id: 'r2', seq: 20 }, 1)).toEqual([20]);
    expect(await seqs({ room_id: 'r0', seq: { $gt: 2.5, $lt: 4 } }, 1)).toEqual([3]);
    // filters the handler applies itself: the limit counts only what passes them
    expect(await seqs({ room_id: 'r0', kind: 'system' }, -1, 2)).toEqual([21, 16]);
    expect(await seqs({ room_id: 'r0', seq: { $gt: 20 }, sender_id: { $ne: 'a' } }, 1, 2)).toEqual([21, 23]);
    expect(await seqs({ room_id: 'r0', seq: { $in: [3, 12] } }, 1)).toEqual([3, 12]);
    expect(await seqs({ room_id: 'r0' }, -1, 2, 3)).toEqual([22, 21]);
    expect(await seqs({ room_id: { $in: ['r0', 'r2'] }, seq: 25 }, 1)).toEqual([25, 25]);
    const head = await messages.findOne({ room_id: 'r2' }, { sort: { seq: -1 }, projection: { seq: 1 } });
    expect(head?.seq).toBe(25);
    expect(
      await messages.countDocuments({
        room_id: 'r1',
        seq: { $gt: 20 },
        sender_id: { $ne: 'a' },
        kind: 'text',
      }),
    ).toBe(2);
    // the count command (unread counts): FerretDB's build counts a wholly SQL-expressible filter in SQL
    const count = async (query: Record<string, unknown>) =>
      ((await db.command({ count: 'chat_messages', query })) as { n: number }).n;
    expect(
      await count({ room_id: 'r1', seq: { $gt: 10, $lte: 20 }, kind: 'text', sender_id: { $ne: 'a' } }),
    ).toBe(4);
    expect(await count({ room_id: 'r1', seq: { $gt: 10, $lte: 20 }, kind: 'text', deleted_at: null })).toBe(
      8,
    );
    expect(await count({ room_id: 'nope', seq: { $gt: 0 } })).toBe(0);
    expect(await count({ room_id: { $in: ['r0', 'r1'] }, seq: { $gte: 24 } })).toBe(4);
    const byIds = await messages.find({ _id: { $in: ['r0-m1', 'r2-m7', 'nope'] } as never }).toArray();
    expect(byIds.map((doc) => doc._id).sort()).toEqual(['r0-m1', 'r2-m7']);
    // a dedup_key lookup is not one of the pushed-down fields and still finds its message
    expect((await messages.findOne({ dedup_key: 'r2|4' }))?._id).toBe('r2-m5');
    const build = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    if (build.ferretdbVersion !== undefined) {
      const explain = async (find: Record<string, unknown>) =>
        (await db.command({ explain: { find: 'chat_messages', ...find } })) as {
          filterPushdown: boolean;
          sortPushdown: boolean;
          limitPushdown: boolean;
          queryPlanner: { Plan: string[] };
        };
      const page = await explain({
        filter: { room_id: 'r1', seq: { $lt: 15 } },
        sort: { seq: -1 },
        limit: 5,
      });
      expect([page.filterPushdown, page.sortPushdown, page.limitPushdown]).toEqual([true, true, true]);
      const plan = page.queryPlanner.Plan.join('\n');
      expect(plan).toMatch(/USING INDEX .*room_id_1_seq_1/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
      const filtered = await explain({
        filter: { room_id: 'r0', deleted_at: null },
        sort: { seq: -1 },
        limit: 2,
      });
      expect(filtered.limitPushdown).toBe(false);
      // the count command is SQL's COUNT for an unread count's filter, through every wrapper FerretDB
      // puts around a collection (it once silently was not: only the benchmark showed it)
      const countPushdown = async (query: Record<string, unknown>) =>
        (
          (await db.command({ explain: { count: 'chat_messages', query } })) as {
            chatboxCountPushdown?: boolean;
          }
        ).chatboxCountPushdown;
      expect(
        await countPushdown({
          room_id: 'r1',
          seq: { $gt: 10, $lte: 20 },
          kind: 'text',
          sender_id: { $ne: 'a' },
        }),
      ).toBe(true);
      expect(await countPushdown({ room_id: { $in: ['r0', 'r1'] }, seq: { $gte: 24 } })).toBe(true);
      // a filter SQL cannot answer wholly is counted by the handler (the same result, above)
      expect(await countPushdown({ room_id: 'r1', seq: { $gt: 10 }, deleted_at: null })).toBe(false);
    }
  });

  // A room list's unread counts (RoomMessagesRepository.unreadOf): every room's window in one
  // aggregate, `$match` of a `$or` of {room_id, seq range} terms (and kind / sender_id beside it), then
  // `$group` by room_id with `$sum: 1`. MongoDB answers it from each term's (room_id, seq) index range;
  // scripts/ferretdb.sh's build (pushdown-zrooms.patch) as one SQL query: the $or as SQL's OR of the
  // terms, each on the index, and the $group as GROUP BY. A find or count with such a $or goes down too
  // (order and limit included). The results are checked against MongoDB's semantics written out here,
  // over drawn rooms (with a removed prefix, as retention leaves them), terms and pipelines.
  it('should count a $or of room windows per room in one aggregate, as MongoDB does (property)', async () => {
    const groupsDb = client.db(`roomconf_groups_${randomBytes(4).toString('hex')}`);
    const messages = groupsDb.collection<Record<string, unknown>>('chat_messages');
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    // the unread index (RoomMessageSchema): a window's count read from its entries alone
    await messages.createIndex({ room_id: 1, seq: 1, kind: 1, sender_id: 1 });
    const build = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    type Message = { room_id: string; seq: number; sender_id: string; kind: string };
    type Term = { room: string; gt: number; len?: number };
    const rooms = ['r0', 'r1', 'r2', 'r3'];
    const roomArbitrary = fc.record({
      // retention removed seqs up to `removed`
      removed: fc.integer({ min: 0, max: 10 }),
      messages: fc.array(
        fc.record({ sender_id: fc.constantFrom('me', 'a', 'b'), kind: fc.constantFrom('text', 'system') }),
        { maxLength: 30 },
      ),
    });
    const termArbitrary = fc.record(
      {
        // r9 holds nothing
        room: fc.constantFrom(...rooms, 'r9'),
        gt: fc.integer({ min: 0, max: 35 }),
        len: fc.integer({ min: 1, max: 35 }),
      },
      { requiredKeys: ['room', 'gt'] },
    );
    const toFilter = (terms: Term[], others: boolean): Record<string, unknown> => ({
      $or: terms.map(({ room, gt, len }) => ({
        room_id: room,
        seq: len === undefined ? { $gt: gt } : { $gt: gt, $lte: gt + len },
      })),
      ...(others ? { kind: 'text', sender_id: { $ne: 'me' } } : {}),
    });
    // MongoDB's semantics: a document matches when any term does and (with `others`) it is another's text
    const matches = (message: Message, terms: Term[], others: boolean) =>
      terms.some(
        ({ room, gt, len }) =>
          message.room_id === room && message.seq > gt && (len === undefined || message.seq <= gt + len),
      ) &&
      (!others || (message.kind === 'text' && message.sender_id !== 'me'));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(roomArbitrary, { minLength: rooms.length, maxLength: rooms.length }),
          fc.array(termArbitrary, { minLength: 1, maxLength: 8 }),
          fc.boolean(),
          fc.integer({ min: 1, max: 12 }),
          async (drawn, terms, others, limit) => {
            const stored: Message[] = drawn.flatMap(({ removed, messages: list }, index) =>
              list
                .map((message, at) => ({ room_id: rooms[index], seq: at + 1, ...message }))
                .filter((message) => message.seq > removed),
            );
            await messages.deleteMany({});
            if (stored.length > 0) await messages.insertMany(stored.map((message) => ({ ...message })));
            const filter = toFilter(terms, others);
            const pipeline = [{ $match: filter }, { $group: { _id: '$room_id', n: { $sum: 1 } } }];
            const expected = new Map<string, number>();
            for (const message of stored)
              if (matches(message, terms, others))
                expected.set(message.room_id, (expected.get(message.room_id) ?? 0) + 1);
            const groups = await messages.aggregate<{ _id: string; n: number }>(pipeline).toArray();
            expect(groups.map(({ _id, n }) => [_id, n]).sort()).toEqual([...expected.entries()].sort());
            // a count in the group is an int32, as MongoDB's $sum of 1
            for (const group of groups) expect(Number.isInteger(group.n)).toBe(true);
            // the same $or in a count and in a page (newest first, limited)
            const matched = stored.filter((message) => matches(message, terms, others));
            expect(await messages.countDocuments(filter)).toBe(matched.length);
            const page = await messages.find(filter).sort({ seq: -1, room_id: 1 }).limit(limit).toArray();
            const expectedPage = [...matched]
              .sort((a, b) => b.seq - a.seq || (a.room_id < b.room_id ? -1 : 1))
              .slice(0, limit);
            expect(page.map((doc) => [doc.room_id, doc.seq])).toEqual(
              expectedPage.map((message) => [message.room_id, message.seq]),
            );
            if (build.ferretdbVersion !== undefined) {
              const explained = (await groupsDb.command({
                explain: { aggregate: 'chat_messages', pipeline, cursor: {} },
              })) as {
                filterPushdown: boolean;
                chatboxGroupPushdown?: boolean;
                chatboxGroupPlan?: string[];
              };
              expect(explained.chatboxGroupPushdown).toBe(true);
              expect(explained.filterPushdown).toBe(true);
              // an index range per term; with one term per room (a room list's), each on the unread
              // index: kind and sender_id are indexed as their SQL values, so a window is counted
              // without reading a message (a room's several terms are ORed on its (room_id, seq) rows)
              const plan = explained.chatboxGroupPlan ?? [];
              const ranges = plan.filter((line) => line.startsWith('SEARCH'));
              const roomsNamed = new Set(terms.map((term) => term.room)).size;
              expect(ranges.length).toBeGreaterThanOrEqual(roomsNamed);
              for (const range of ranges) expect(range).toMatch(/USING (COVERING )?INDEX .*room_id_1_seq_1/);
              if (roomsNamed === terms.length) {
                if (others)
                  for (const range of ranges) expect(range).toMatch(/room_id_1_seq_1_kind_1_sender_id_1/);
                // SQLite's program reads no message's JSON: every value tested comes from the index
                // (kind and sender_id held as JSON text, `->`, were read from the row)
                expect(plan).toContain('chatbox: table rows read: false');
              }
              expect(plan.join('\n')).not.toMatch(/SCAN/);
            }
          },
        ),
        { numRuns: 60 },
      );
      // pipelines and $or terms SQL cannot answer wholly are left to the handler: the same results
      await messages.deleteMany({});
      await messages.insertMany([
        { room_id: 'r0', seq: 1, sender_id: 'a', kind: 'text', deleted_at: null },
        { room_id: 'r0', seq: 2, sender_id: 'a', kind: 'text', deleted_at: new Date() },
        { room_id: 'r1', seq: 1, sender_id: 'b', kind: 'text' },
      ]);
      const groupsOf = async (pipeline: Record<string, unknown>[]) =>
        (await messages.aggregate<{ _id: unknown; n: number }>(pipeline).toArray())
          .map(({ _id, n }) => [_id, n])
          .sort();
      const handlerOnly: Array<[Record<string, unknown>[], unknown[]]> = [
        // a term with a field SQL does not test
        [
          [
            { $match: { $or: [{ room_id: 'r0', deleted_at: null }, { room_id: 'r1' }] } },
            { $group: { _id: '$room_id', n: { $sum: 1 } } },
          ],
          [
            ['r0', 1],
            ['r1', 1],
          ],
        ],
        // $sum of another value
        [
          [{ $match: { $or: [{ room_id: 'r0' }] } }, { $group: { _id: '$room_id', n: { $sum: 2 } } }],
          [['r0', 4]],
        ],
        // grouped by a field that is not only ever a string
        [
          [
            { $match: { $or: [{ room_id: 'r0' }, { room_id: 'r1' }] } },
            { $group: { _id: '$seq', n: { $sum: 1 } } },
          ],
          [
            [1, 2],
            [2, 1],
          ],
        ],
      ];
      for (const [pipeline, expected] of handlerOnly) {
        expect(await groupsOf(pipeline)).toEqual(expected);
        if (build.ferretdbVersion !== undefined) {
          const explained = (await groupsDb.command({
            explain: { aggregate: 'chat_messages', pipeline, cursor: {} },
          })) as { chatboxGroupPushdown?: boolean };
          expect(explained.chatboxGroupPushdown).toBe(false);
        }
      }
      // a document without the grouped field is in the group of null, on either path
      await messages.insertOne({ seq: 9, kind: 'text' });
      expect(
        await groupsOf([
          { $match: { $or: [{ seq: 9 }, { room_id: 'r1' }] } },
          { $group: { _id: '$room_id', n: { $sum: 1 } } },
        ]),
      ).toEqual([
        [null, 1],
        ['r1', 1],
      ]);
    } finally {
      await groupsDb.dropDatabase();
    }
  });

  // An unread count leaves out the reader's own messages and those of users the reader blocked
  // (countedOf: a `$ne` for the reader alone, a `$nin` with blocks), beside the windows' `$or`, in the
  // aggregate and in a count: MongoDB's semantics written out here over drawn messages and blocks.
  // FerretDB's build counts the `$ne` form in SQL (above); the `$nin` form is left to its handler,
  // which must answer the same.
  it("should count others' text in room windows leaving out the reader and whom they blocked (property)", async () => {
    const messages = fresh();
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    await messages.createIndex({ room_id: 1, seq: 1, kind: 1, sender_id: 1 });
    const senders = ['me', 'a', 'b', 'c'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            room_id: fc.constantFrom('r0', 'r1'),
            sender_id: fc.constantFrom(...senders),
            kind: fc.constantFrom('text', 'system'),
          }),
          { maxLength: 30 },
        ),
        fc.array(fc.constantFrom(...senders), { maxLength: 4 }),
        fc.integer({ min: 0, max: 20 }),
        async (drawn, blocked, after) => {
          const seqs = new Map<string, number>();
          const stored = drawn.map((message) => {
            const seq = (seqs.get(message.room_id) ?? 0) + 1;
            seqs.set(message.room_id, seq);
            return { ...message, seq };
          });
          await messages.deleteMany({});
          if (stored.length > 0) await messages.insertMany(stored.map((message) => ({ ...message })));
          const except = ['me', ...blocked];
          const filter = {
            $or: ['r0', 'r1'].map((room) => ({ room_id: room, seq: { $gt: after, $lte: after + 10 } })),
            ...countedOf(except),
          };
          const expected = new Map<string, number>();
          for (const message of stored)
            if (
              message.seq > after &&
              message.seq <= after + 10 &&
              message.kind === 'text' &&
              !except.includes(message.sender_id)
            )
              expected.set(message.room_id, (expected.get(message.room_id) ?? 0) + 1);
          const groups = await messages
            .aggregate<{ _id: string; n: number }>([
              { $match: filter },
              { $group: { _id: '$room_id', n: { $sum: 1 } } },
            ])
            .toArray();
          expect(groups.map(({ _id, n }) => [_id, n]).sort()).toEqual([...expected.entries()].sort());
          expect(await messages.countDocuments(filter)).toBe(
            [...expected.values()].reduce((sum, n) => sum + n, 0),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  // The public room list and the admin's list of rooms: newest activity first (a room without any
  // message last), ties by id. pushdown-seq.patch orders chat_rooms by its dates' SQL values in SQLite
  // when the filter is wholly SQL-expressible; the handler sorts again, so the results are the same.
  it('should list rooms by last activity (null last), then id, with a limit, the same as the whole filter', async () => {
    const rooms = db.collection<Record<string, unknown>>('chat_rooms');
    await rooms.createIndex({ kind: 1, last_message_at: -1 });
    await rooms.createIndex({ created_at: -1 });
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
    await rooms.insertMany(
      Array.from({ length: 30 }, (_, index) => ({
        _id: `room-${String(index).padStart(2, '0')}` as never,
        kind: index % 3 === 0 ? 'private' : 'public',
        // some never had a message, some share a minute (ties by id), one is 1,000 minutes later
        last_message_at: index % 7 === 0 ? null : at(index === 29 ? 1000 : index % 10),
        created_at: at(index),
      })),
    );
    const all = await rooms.find({}).toArray();
    const key = (room: Record<string, unknown>) =>
      (room.last_message_at as Date | null)?.getTime() ?? -Infinity;
    const expected = all
      .filter((room) => room.kind === 'public')
      .sort((a, b) => key(b) - key(a) || String(a._id).localeCompare(String(b._id)))
      .map((room) => room._id);
    const listed = await rooms
      .find({ kind: 'public' })
      .sort({ last_message_at: -1, _id: 1 })
      .limit(12)
      .toArray();
    expect(listed.map((room) => room._id)).toEqual(expected.slice(0, 12));
    expect(listed[0]._id).toBe('room-29');
    const newest = await rooms.find({}).sort({ created_at: -1, _id: 1 }).limit(3).toArray();
    expect(newest.map((room) => room._id)).toEqual(['room-29', 'room-28', 'room-27']);
    const build = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    if (build.ferretdbVersion !== undefined) {
      const explained = (await db.command({
        explain: {
          find: 'chat_rooms',
          filter: { kind: 'public' },
          sort: { last_message_at: -1, _id: 1 },
          limit: 12,
        },
      })) as { sortPushdown: boolean; limitPushdown: boolean };
      expect([explained.sortPushdown, explained.limitPushdown]).toEqual([true, true]);
    }
  });

  // RoomMessagesRepository.append: read the head, insert at head + 1, retry on a duplicate key
  it('should give writers on four connections seqs 1..n by insert-and-retry on a unique (room_id, seq)', async () => {
    const messages = fresh();
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => new MongoClient(mongoUri(db.databaseName)).connect()),
    );
    try {
      const writers = 40;
      await Promise.all(
        Array.from({ length: writers }, async (_, writer) => {
          const collection = clients[writer % clients.length].db().collection(messages.collectionName);
          for (;;) {
            const head = await collection.findOne(
              { room_id: 'r' },
              { sort: { seq: -1 }, projection: { seq: 1 } },
            );
            try {
              await collection.insertOne({ room_id: 'r', seq: ((head?.seq as number) ?? 0) + 1, writer });
              return;
            } catch (error) {
              if (!isDuplicate(error)) throw error;
            }
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((each) => each.close()));
    }
    const seqs = (await messages.find({ room_id: 'r' }).sort({ seq: 1 }).toArray()).map((doc) => doc.seq);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    // another room numbers on its own
    await messages.insertOne({ room_id: 'other', seq: 1 });
  });

  it('should refuse a second message with the same dedup_key, and find the first by it', async () => {
    const messages = fresh();
    await messages.createIndex({ dedup_key: 1 }, { unique: true });
    await messages.insertOne({ _id: 'm1' as never, dedup_key: 'r|u|c1', seq: 1 });
    await expect(
      messages.insertOne({ _id: 'm2' as never, dedup_key: 'r|u|c1', seq: 2 }),
    ).rejects.toMatchObject({
      code: 11000,
    });
    expect(await messages.findOne({ dedup_key: 'r|u|c1' })).toMatchObject({ _id: 'm1', seq: 1 });
  });

  it('should page by seq: newest before a cursor, everything after a resume point, in order', async () => {
    const messages = fresh();
    await messages.insertMany(
      [1, 2, 3, 4, 5, 6].map((seq) => ({ room_id: 'r', seq, sender_id: seq % 2 ? 'a' : 'b' })),
    );
    await messages.insertOne({ room_id: 'other', seq: 9, sender_id: 'a' });
    const before = await messages
      .find({ room_id: 'r', seq: { $lt: 5 } })
      .sort({ seq: -1 })
      .limit(2)
      .toArray();
    expect(before.map((doc) => doc.seq)).toEqual([4, 3]);
    const after = await messages
      .find({ room_id: 'r', seq: { $gt: 4 } })
      .sort({ seq: 1 })
      .limit(10)
      .toArray();
    expect(after.map((doc) => doc.seq)).toEqual([5, 6]);
    // unread: others' text messages after the read mark (scalar $ne)
    await messages.insertOne({ room_id: 'r', seq: 7, sender_id: 'b', kind: 'system' });
    await messages.updateMany({ room_id: 'r', seq: { $lt: 7 } }, { $set: { kind: 'text' } });
    expect(
      await messages.countDocuments({ room_id: 'r', seq: { $gt: 2 }, sender_id: { $ne: 'a' }, kind: 'text' }),
    ).toBe(2);
  });

  it('should match deleted_at: null on null and missing, and soft-delete with $set and $unset', async () => {
    const messages = fresh();
    await messages.insertMany([
      { _id: 'missing' as never, room_id: 'r', content: 'x' },
      { _id: 'null' as never, room_id: 'r', content: 'y', deleted_at: null, edits: [{ content: 'w' }] },
      { _id: 'gone' as never, room_id: 'r', deleted_at: new Date() },
    ]);
    const live = await messages.find({ room_id: 'r', deleted_at: null }).toArray();
    expect(live.map((doc) => doc._id).sort()).toEqual(['missing', 'null']);
    const result = await messages.updateOne(
      { _id: 'null' as never, room_id: 'r', deleted_at: null },
      { $set: { deleted_at: new Date(), deleted_by: 'u' }, $unset: { content: '', edits: '' } },
    );
    expect(result.matchedCount).toBe(1);
    const deleted = await messages.findOne({ _id: 'null' as never });
    expect(deleted?.content).toBeUndefined();
    expect(deleted?.edits).toBeUndefined();
    // a second delete matches nothing
    expect(
      (await messages.updateOne({ _id: 'null' as never, deleted_at: null }, { $set: { x: 1 } })).matchedCount,
    ).toBe(0);
  });

  it('should push edit history with $each onto a missing array and set the new text together', async () => {
    const messages = fresh();
    await messages.insertOne({ _id: 'm' as never, content: 'one' });
    await messages.updateOne({ _id: 'm' as never }, {
      $set: { content: 'two' },
      $push: { edits: { $each: [{ content: 'one' }] } },
    } as never);
    await messages.updateOne({ _id: 'm' as never }, { $push: { edits: { $each: [] } } } as never);
    expect(await messages.findOne({ _id: 'm' as never })).toEqual({
      _id: 'm',
      content: 'two',
      edits: [{ content: 'one' }],
    });
  });

  // joins, leaves and invitations write the membership over the state they checked
  // (ParticipantsRepository.move): a kick or ban in between is not written over
  it('should change a document only from the state it was read in, and refuse a second insert of its _id', async () => {
    const participants = fresh();
    await participants.insertOne({ _id: 'r|u' as never, state: 'member' });
    // a ban lands
    await participants.updateOne({ _id: 'r|u' as never }, { $set: { state: 'banned' } });
    const stale = await participants.updateOne(
      { _id: 'r|u' as never, state: 'member' },
      { $set: { state: 'left' } },
    );
    expect(stale.matchedCount).toBe(0);
    const current = await participants.updateOne(
      { _id: 'r|u' as never, state: 'banned' },
      { $set: { state: 'left' } },
    );
    expect(current.matchedCount).toBe(1);
    await expect(participants.insertOne({ _id: 'r|u' as never, state: 'member' })).rejects.toMatchObject({
      code: 11000,
    });
    expect((await participants.findOne({ _id: 'r|u' as never }))?.state).toBe('left');
  });

  // edits and reactions: the later arrival stands (RoomMessagesRepository.edit, ReactionsRepository.set)
  it('should update only where a date is null, missing, earlier or equal ($or of null and $lte), next to deleted_at: null', async () => {
    const messages = fresh();
    const at = new Date('2026-03-01T12:00:00.000Z');
    await messages.insertMany([
      { _id: 'never' as never, edited_at: null, deleted_at: null },
      { _id: 'missing' as never, deleted_at: null },
      { _id: 'earlier' as never, edited_at: new Date(at.getTime() - 1), deleted_at: null },
      { _id: 'equal' as never, edited_at: at, deleted_at: null },
      { _id: 'later' as never, edited_at: new Date(at.getTime() + 1), deleted_at: null },
      { _id: 'deleted' as never, edited_at: null, deleted_at: new Date() },
    ]);
    const matched: string[] = [];
    for (const id of ['never', 'missing', 'earlier', 'equal', 'later', 'deleted']) {
      const result = await messages.updateOne(
        { _id: id as never, deleted_at: null, $or: [{ edited_at: null }, { edited_at: { $lte: at } }] },
        { $set: { edited_at: at, content: 'new' } },
      );
      if (result.matchedCount === 1) matched.push(id);
    }
    expect(matched).toEqual(['never', 'missing', 'earlier', 'equal']);
    expect((await messages.findOne({ _id: 'later' as never }))?.content).toBeUndefined();
    // a reaction: the insert of a taken _id is refused, then the compare on `at` decides
    const reactions = fresh();
    await reactions.insertOne({ _id: 'm|u|e' as never, removed: false, at });
    await expect(reactions.insertOne({ _id: 'm|u|e' as never, removed: true, at })).rejects.toMatchObject({
      code: 11000,
    });
    const older = await reactions.updateOne(
      { _id: 'm|u|e' as never, $or: [{ at: null }, { at: { $lte: new Date(at.getTime() - 1) } }] },
      { $set: { removed: true } },
    );
    expect(older.matchedCount).toBe(0);
    expect((await reactions.findOne({ _id: 'm|u|e' as never }))?.removed).toBe(false);
  });

  it('should keep the highest value with $max (numbers and dates), also on an upsert with $setOnInsert', async () => {
    const marks = fresh();
    await marks.updateOne(
      { _id: 'r|u' as never },
      { $max: { seq: 5 }, $setOnInsert: { room_id: 'r' } },
      { upsert: true },
    );
    await marks.updateOne(
      { _id: 'r|u' as never },
      { $max: { seq: 3 }, $setOnInsert: { room_id: 'x' } },
      { upsert: true },
    );
    expect(await marks.findOne({ _id: 'r|u' as never })).toEqual({ _id: 'r|u', seq: 5, room_id: 'r' });
    const rooms = fresh();
    await rooms.insertOne({ _id: 'r' as never, last_seq: 0, last_message_at: null });
    const at = new Date(Date.UTC(2026, 0, 2));
    await rooms.updateOne({ _id: 'r' as never }, { $max: { last_seq: 7, last_message_at: at } });
    await rooms.updateOne(
      { _id: 'r' as never },
      { $max: { last_seq: 6, last_message_at: new Date(Date.UTC(2026, 0, 1)) } },
    );
    expect(await rooms.findOne({ _id: 'r' as never })).toEqual({
      _id: 'r',
      last_seq: 7,
      last_message_at: at,
    });
  });

  // ParticipantsRepository.put retries once on a duplicate key
  it('should let racing upserts of one new _id end with one document (a loser may see a duplicate key)', async () => {
    const participants = fresh();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        participants.updateOne(
          { _id: 'r|u' as never },
          { $set: { state: 'member' }, $setOnInsert: { room_id: 'r' } },
          { upsert: true },
        ),
      ),
    );
    for (const result of results)
      if (result.status === 'rejected') expect(isDuplicate(result.reason)).toBe(true);
    expect(await participants.countDocuments({})).toBe(1);
  });

  it('should insert one room for a pair when the same _id is inserted at once (direct messages)', async () => {
    const rooms = fresh();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, index) => rooms.insertOne({ _id: 'dm_pair' as never, by: index })),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect(await rooms.countDocuments({})).toBe(1);
  });

  it('should read and filter by $in on _id and on a field, list distinct values, and delete by date', async () => {
    const reactions = fresh();
    const old = new Date(Date.UTC(2025, 0, 1));
    const recent = new Date(Date.UTC(2026, 5, 1));
    await reactions.insertMany([
      { _id: 'm1|u|a' as never, message_id: 'm1', message_at: old },
      { _id: 'm2|u|b' as never, message_id: 'm2', message_at: recent },
      { _id: 'm3|u|c' as never, message_id: 'm3', message_at: recent },
    ]);
    expect(await reactions.countDocuments({ message_id: { $in: ['m1', 'm2'] } })).toBe(2);
    expect(await reactions.countDocuments({ _id: { $in: ['m1|u|a', 'nope'] } as never })).toBe(1);
    // the retention sweep: which rooms have expired messages
    expect((await reactions.distinct('message_id', { message_at: { $lt: recent } })).sort()).toEqual(['m1']);
    expect((await reactions.distinct('message_id', {})).sort()).toEqual(['m1', 'm2', 'm3']);
    const removed = await reactions.deleteMany({ message_at: { $lt: new Date(Date.UTC(2026, 0, 1)) } });
    expect(removed.deletedCount).toBe(1);
  });
  it('should filter by $in on a string field, sort with null dates last when descending, skip and limit', async () => {
    const rooms = fresh();
    const at = (day: number) => new Date(Date.UTC(2026, 0, day));
    await rooms.insertMany([
      { _id: 'a' as never, kind: 'public', last_message_at: at(2) },
      { _id: 'b' as never, kind: 'public', last_message_at: null },
      { _id: 'c' as never, kind: 'public', last_message_at: at(5) },
      { _id: 'd' as never, kind: 'private', last_message_at: at(9) },
    ]);
    const listed = await rooms
      .find({ kind: 'public' })
      .sort({ last_message_at: -1, _id: 1 })
      .limit(10)
      .toArray();
    expect(listed.map((room) => room._id)).toEqual(['c', 'a', 'b']);
    const paged = await rooms.find({}).sort({ _id: 1 }).skip(1).limit(2).toArray();
    expect(paged.map((room) => room._id)).toEqual(['b', 'c']);
    const participants = fresh();
    await participants.insertMany([
      { room_id: 'r', user_id: 'z', state: 'member' },
      { room_id: 'r', user_id: 'y', state: 'invited' },
      { room_id: 'r', user_id: 'x', state: 'banned' },
    ]);
    const states = await participants
      .find({ room_id: 'r', state: { $in: ['member', 'invited'] } })
      .sort({ user_id: 1 })
      .toArray();
    expect(states.map((participant) => participant.user_id)).toEqual(['y', 'z']);
  });

  // RoomAiRunsRepository: one AI reply at a time per room is a document whose _id is the room;
  // racing inserts on several connections leave exactly one holder, and a release or a stale-lease
  // takeover deletes only by a filter that names what it expects
  it('should let exactly one of many racing inserts of one _id hold a room, and delete only by a matching filter', async () => {
    const runs = fresh();
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => new MongoClient(mongoUri(db.databaseName)).connect()),
    );
    const old = new Date(Date.now() - 60_000);
    let won: boolean[];
    try {
      won = await Promise.all(
        Array.from({ length: 20 }, async (_, attempt) => {
          const collection = clients[attempt % clients.length].db().collection(runs.collectionName);
          try {
            await collection.insertOne({
              _id: 'room-1' as never,
              reply_id: `reply-${attempt}`,
              renewed_at: old,
            });
            return true;
          } catch (error) {
            if (!isDuplicate(error)) throw error;
            return false;
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((each) => each.close()));
    }
    expect(won.filter(Boolean)).toHaveLength(1);
    const holder = await runs.findOne({ _id: 'room-1' as never });
    expect(holder?.reply_id).toBe(`reply-${won.indexOf(true)}`);
    // another reply's release leaves it
    expect((await runs.deleteOne({ _id: 'room-1' as never, reply_id: 'reply-x' })).deletedCount).toBe(0);
    // renewing moves renewed_at; a stale-lease takeover with an older cutoff then deletes nothing
    await runs.updateOne(
      { _id: 'room-1' as never, reply_id: holder?.reply_id },
      { $set: { renewed_at: new Date() } },
    );
    const cutoff = new Date(Date.now() - 15_000);
    expect((await runs.deleteOne({ _id: 'room-1' as never, renewed_at: { $lt: cutoff } })).deletedCount).toBe(
      0,
    );
    expect(await runs.find({ renewed_at: { $lt: cutoff } }).toArray()).toHaveLength(0);
    // once stale it is found and deleted
    await runs.updateOne({ _id: 'room-1' as never }, { $set: { renewed_at: old } });
    expect(await runs.find({ renewed_at: { $lt: cutoff } }).toArray()).toHaveLength(1);
    expect((await runs.deleteOne({ _id: 'room-1' as never, renewed_at: { $lt: cutoff } })).deletedCount).toBe(
      1,
    );
  });

  // RoomAiRunsRepository.renew: an updateOne naming the run (room, reply id) and a floor on its
  // renewed_at, whose match count tells the holder whether it still holds the run. A run renewed
  // before the floor, deleted, or replaced by another reply's is matched by nothing and left as it is
  // (never written back, never made again)
  it("should renew a run only while it is the holder's and renewed since the floor, and tell by the match count", async () => {
    const runs = fresh();
    const now = Date.now();
    const renew = (replyId: string, renewedAt: Date, since: Date) =>
      runs.updateOne(
        { _id: 'room-1' as never, reply_id: replyId, renewed_at: { $gte: since } },
        { $set: { renewed_at: renewedAt } },
      );
    await runs.insertOne({ _id: 'room-1' as never, reply_id: 'r1', renewed_at: new Date(now - 5_000) });
    expect((await renew('r1', new Date(now), new Date(now - 15_000))).matchedCount).toBe(1);
    expect((await runs.findOne({ _id: 'room-1' as never }))?.renewed_at).toEqual(new Date(now));
    // paused past the floor: no match, nothing written
    expect((await renew('r1', new Date(now + 20_000), new Date(now + 5_000))).matchedCount).toBe(0);
    expect((await runs.findOne({ _id: 'room-1' as never }))?.renewed_at).toEqual(new Date(now));
    // ended and replaced by another reply's run: no match, the new run untouched
    await runs.deleteOne({ _id: 'room-1' as never, reply_id: 'r1' });
    expect((await renew('r1', new Date(now + 1), new Date(0))).matchedCount).toBe(0);
    expect(await runs.countDocuments({})).toBe(0);
    await runs.insertOne({ _id: 'room-1' as never, reply_id: 'r2', renewed_at: new Date(now) });
    expect((await renew('r1', new Date(now + 2), new Date(0))).matchedCount).toBe(0);
    expect(await runs.find({}).toArray()).toEqual([
      { _id: 'room-1', reply_id: 'r2', renewed_at: new Date(now) },
    ]);
  });

  // RoomAiUsageRepository: a document per AI reply (never a counter: FerretDB loses concurrent $inc),
  // read by room_id (indexed) and summed in code: FerretDB 1.24's $group computes only the first of
  // several $sum accumulators (the others come back 0), so no aggregation is relied on
  it('should sum per-reply usage documents of one room by model in code, counting concurrent inserts', async () => {
    const usage = fresh();
    await usage.createIndex({ room_id: 1, at: -1 });
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => new MongoClient(mongoUri(db.databaseName)).connect()),
    );
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, index) =>
          clients[index % clients.length]
            .db()
            .collection(usage.collectionName)
            .insertOne({
              _id: `reply-${index}` as never,
              room_id: index < 36 ? 'room-a' : 'room-b',
              model: index % 3 === 0 ? 'demo' : 'gpt',
              prompt_tokens: 10,
              completion_tokens: index,
              total_tokens: 10 + index,
              at: new Date(),
            }),
        ),
      );
    } finally {
      await Promise.all(clients.map((each) => each.close()));
    }
    const found = await usage
      .find(
        { room_id: 'room-a' },
        { projection: { model: 1, prompt_tokens: 1, completion_tokens: 1, total_tokens: 1 } },
      )
      .toArray();
    const sums = new Map<
      string,
      { _id: string; replies: number; prompt_tokens: number; completion_tokens: number; total_tokens: number }
    >();
    for (const doc of found) {
      const model = doc.model as string;
      const row = sums.get(model) ?? {
        _id: model,
        replies: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
      };
      row.replies++;
      row.prompt_tokens += doc.prompt_tokens as number;
      row.completion_tokens += doc.completion_tokens as number;
      row.total_tokens += doc.total_tokens as number;
      sums.set(model, row);
    }
    const rows = [...sums.values()].sort((a, b) => a._id.localeCompare(b._id));
    const indexes = Array.from({ length: 36 }, (_, index) => index);
    const expected = (model: string) => {
      const mine = indexes.filter((index) => (index % 3 === 0 ? 'demo' : 'gpt') === model);
      const completion = mine.reduce((sum, index) => sum + index, 0);
      return {
        _id: model,
        replies: mine.length,
        prompt_tokens: 10 * mine.length,
        completion_tokens: completion,
        total_tokens: 10 * mine.length + completion,
      };
    };
    expect(rows).toEqual([expected('demo'), expected('gpt')]);
    // a room with no usage has no documents
    expect(await usage.find({ room_id: 'none' }).toArray()).toEqual([]);
  });

  // The change log (RoomChangesRepository, docs/protocol.md "Change log"): numbers by insert-and-retry
  // on a unique `_id` `${room}|${n}` (never a counter), a reader running beside the writers always
  // sees a contiguous run from the first number (an entry is visible only once inserted, and one is
  // only inserted above the head read), read back by a room's numeric range in number order.
  it('should give change numbers 1..n by insert-and-retry on a unique _id, readers seeing a contiguous run', async () => {
    const changes = fresh();
    await changes.createIndex({ room_id: 1, n: 1 }, { unique: true });
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => new MongoClient(mongoUri(db.databaseName)).connect()),
    );
    const seen: number[][] = [];
    let writing = true;
    try {
      const reader = (async () => {
        while (writing) {
          const run = await changes
            .find({ room_id: 'r', n: { $gt: 0 } })
            .sort({ n: 1 })
            .toArray();
          seen.push(run.map((entry) => entry.n as number));
        }
      })();
      await Promise.all(
        Array.from({ length: 40 }, async (_, writer) => {
          const collection = clients[writer % clients.length].db().collection(changes.collectionName);
          for (;;) {
            const head = await collection.findOne(
              { room_id: 'r' },
              { sort: { n: -1 }, projection: { n: 1 } },
            );
            const n = ((head?.n as number) ?? 0) + 1;
            try {
              await collection.insertOne({ _id: `r|${n}` as never, room_id: 'r', n, writer });
              return;
            } catch (error) {
              if (!isDuplicate(error)) throw error;
            }
          }
        }),
      );
      writing = false;
      await reader;
    } finally {
      writing = false;
      await Promise.all(clients.map((each) => each.close()));
    }
    const all = (await changes.find({ room_id: 'r' }).sort({ n: 1 }).toArray()).map((doc) => doc.n);
    expect(all).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    expect(seen.length).toBeGreaterThan(0);
    for (const run of seen) expect(run).toEqual(Array.from({ length: run.length }, (_, index) => index + 1));
    // the same number twice is refused by the `_id` alone
    await expect(changes.insertOne({ _id: 'r|7' as never, room_id: 'r', n: 7 })).rejects.toMatchObject({
      code: 11000,
    });
  });

  // under its own name: scripts/ferretdb.sh's build answers a change log's reads in SQLite, on the
  // (room_id, n) index with `n` as a number (zz-room-changes.patch), as for a room's messages by seq
  it('should read a room change log after a number in numeric order with a limit, and its head', async () => {
    const changes = db.collection<Record<string, unknown>>('chat_room_changes');
    await changes.createIndex({ room_id: 1, n: 1 }, { unique: true });
    // inserted out of order, numbers past 9 (numeric, not text order), two rooms
    const numbers = [12, 3, 1, 10, 2, 9, 11, 4, 5, 8, 6, 7];
    await changes.insertMany([
      ...numbers.map((n) => ({ _id: `a|${n}` as never, room_id: 'a', n })),
      ...[1, 2, 3].map((n) => ({ _id: `b|${n}` as never, room_id: 'b', n })),
    ]);
    const page = await changes
      .find({ room_id: 'a', n: { $gt: 8 } })
      .sort({ n: 1 })
      .limit(3)
      .toArray();
    expect(page.map((entry) => entry.n)).toEqual([9, 10, 11]);
    const head = await changes.findOne({ room_id: 'a' }, { sort: { n: -1 }, projection: { n: 1 } });
    expect(head?.n).toBe(12);
    // a first join's start: the newest few, newest first (RoomChangesRepository.start)
    const newest = await changes
      .find({ room_id: 'a' }, { projection: { n: 1, at: 1, void: 1 } })
      .sort({ n: -1 })
      .limit(4)
      .toArray();
    expect(newest.map((entry) => entry.n)).toEqual([12, 11, 10, 9]);
    expect(await changes.findOne({ room_id: 'none' }, { sort: { n: -1 } })).toBeNull();
    expect(await changes.find({ room_id: 'b', n: { $gt: 3 } }).toArray()).toEqual([]);
    const build = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    if (build.ferretdbVersion !== undefined) {
      for (const find of [
        { filter: { room_id: 'a', n: { $gt: 8 } }, sort: { n: 1 }, limit: 3 },
        { filter: { room_id: 'a' }, sort: { n: -1 }, limit: 1 },
        { filter: { room_id: 'a' }, sort: { n: -1 }, limit: 100 },
      ]) {
        const explained = (await db.command({ explain: { find: 'chat_room_changes', ...find } })) as {
          filterPushdown: boolean;
          sortPushdown: boolean;
          limitPushdown: boolean;
          queryPlanner: { Plan: string[] };
        };
        expect([explained.filterPushdown, explained.sortPushdown, explained.limitPushdown]).toEqual([
          true,
          true,
          true,
        ]);
        const plan = explained.queryPlanner.Plan.join('\n');
        expect(plan).toMatch(/USING INDEX .*room_id_1_n_1/);
        expect(plan).not.toMatch(/TEMP B-TREE/);
      }
    }
  });

  it("should store a change number with the change in one $set, and read a room's messages by an $in of ids", async () => {
    const messages = fresh();
    await messages.insertMany([
      { _id: 'm1' as never, room_id: 'r', seq: 1, content: 'a', deleted_at: null },
      { _id: 'm2' as never, room_id: 'r', seq: 2, content: 'b', deleted_at: null },
      { _id: 'm3' as never, room_id: 'other', seq: 1, content: 'c', deleted_at: null },
    ]);
    await messages.updateOne({ _id: 'm1' as never, room_id: 'r', deleted_at: null }, {
      $set: { content: 'a2', change: 4 },
      $push: { edits: { $each: [{ content: 'a' }] } },
    } as never);
    await messages.updateOne(
      { _id: 'm2' as never, room_id: 'r', deleted_at: null },
      { $set: { deleted_at: new Date(), change: 5 }, $unset: { content: '', edits: '' } },
    );
    const found = await messages
      .find({ _id: { $in: ['m1', 'm2', 'm3', 'missing'] as never[] }, room_id: 'r' })
      .sort({ seq: 1 })
      .toArray();
    expect(found.map((doc) => [doc._id, doc.change, doc.content])).toEqual([
      ['m1', 4, 'a2'],
      ['m2', 5, undefined],
    ]);
  });

  it('should expire the change entries of old messages below the head and not recent, in one deleteMany', async () => {
    const changes = fresh();
    const old = new Date('2026-01-01T00:00:00Z');
    const young = new Date('2026-06-01T00:00:00Z');
    const cutoff = new Date('2026-03-01T00:00:00Z');
    const recent = new Date('2026-05-01T00:00:00Z');
    await changes.insertMany([
      { _id: 'r|1' as never, room_id: 'r', n: 1, message_at: old, at: old },
      { _id: 'r|2' as never, room_id: 'r', n: 2, message_at: young, at: young },
      { _id: 'r|3' as never, room_id: 'r', n: 3, message_at: old, at: young },
      { _id: 'r|4' as never, room_id: 'r', n: 4, message_at: old, at: old },
      { _id: 'r|5' as never, room_id: 'r', n: 5, message_at: old, at: old },
      { _id: 's|1' as never, room_id: 's', n: 1, message_at: old, at: old },
    ]);
    const result = await changes.deleteMany({
      room_id: 'r',
      message_at: { $lt: cutoff },
      n: { $lt: 5 },
      at: { $lt: recent },
    });
    expect(result.deletedCount).toBe(2);
    const left = await changes.find({}).sort({ _id: 1 }).toArray();
    expect(left.map((doc) => doc._id)).toEqual(['r|2', 'r|3', 'r|5', 's|1']);
  });

  // RoomsRepository.publicByName (GET /rooms/public): public rooms by (name_key, _id), a page after a
  // cursor as a $or of `name_key > k` and `name_key = k, _id > id`, a search as a literal $regex
  // (containsPattern) on the key. Paging must give every matching room once, in the order the store
  // sorts by (MongoDB and FerretDB both compare strings as UTF-8 bytes: astral characters after
  // U+E000..U+FFFF, unlike JavaScript's UTF-16 order), whatever the names hold.
  it('should page public rooms by name key and id after a $or cursor, searched by a literal $regex (property)', async () => {
    const names = fc.array(fc.constantFrom(...'ab .*+?^$()[]{}|\\/-ÄäßＱ日🙂\uFF5E'.split(/(?:)/u)), {
      minLength: 0,
      maxLength: 6,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            name: names.map((parts) => parts.join('')),
            kind: fc.constantFrom('public', 'public', 'private'),
          }),
          {
            maxLength: 14,
          },
        ),
        names.map((parts) => parts.join('')),
        fc.integer({ min: 1, max: 4 }),
        async (rooms, query, limit) => {
          const collection = fresh();
          await collection.createIndex({ kind: 1, name_key: 1, _id: 1 });
          if (rooms.length > 0)
            await collection.insertMany(
              rooms.map(({ name, kind }, index) => ({
                _id: `r${String(index).padStart(2, '0')}` as never,
                kind,
                name,
                name_key: nameKey(name),
              })),
            );
          const pattern = containsPattern(query);
          const base: Record<string, unknown> = { kind: 'public' };
          if (pattern !== '') base.name_key = { $regex: pattern };
          const paged: Array<Record<string, unknown>> = [];
          for (
            let after: { key: string; id: string } | undefined, pages = 0;
            pages <= rooms.length + 1;
            pages++
          ) {
            const filter = after
              ? {
                  ...base,
                  $or: [{ name_key: { $gt: after.key } }, { name_key: after.key, _id: { $gt: after.id } }],
                }
              : base;
            const page = await collection
              .find(filter)
              .sort({ name_key: 1, _id: 1 })
              .limit(limit + 1)
              .toArray();
            paged.push(...page.slice(0, limit));
            if (page.length <= limit) break;
            const last = page[limit - 1];
            after = { key: last.name_key as string, id: last._id as unknown as string };
          }
          const byBytes = (a: Record<string, unknown>, b: Record<string, unknown>) =>
            Buffer.compare(Buffer.from(a.name_key as string), Buffer.from(b.name_key as string)) ||
            Buffer.compare(Buffer.from(String(a._id)), Buffer.from(String(b._id)));
          const expected = (await collection.find({}).toArray())
            .filter((room) => room.kind === 'public' && (room.name_key as string).includes(nameKey(query)))
            .sort(byBytes)
            .map((room) => room._id);
          expect(paged.map((room) => room._id)).toEqual(expected);
          await collection.drop();
        },
      ),
      { numRuns: 40 },
    );
  });

  // PublicRoomsService's start: the public rooms without a name_key, and a write of it only where it
  // is still missing (a rename may have written it meanwhile)
  it('should find documents missing a field with $exists: false, and update only those', async () => {
    const rooms = fresh();
    await rooms.insertMany([
      { _id: 'a' as never, kind: 'public', name: 'Old' },
      { _id: 'b' as never, kind: 'public', name: 'New', name_key: 'new' },
      { _id: 'c' as never, kind: 'private', name: 'Hidden' },
      { _id: 'd' as never, kind: 'public', name: 'Renamed', name_key: 'renamed' },
    ]);
    const missing = await rooms
      .find({ kind: 'public', name_key: { $exists: false } }, { projection: { name: 1 } })
      .toArray();
    expect(missing).toEqual([{ _id: 'a', name: 'Old' }]);
    await rooms.updateOne({ _id: 'a' as never, name_key: { $exists: false } }, { $set: { name_key: 'old' } });
    const skipped = await rooms.updateOne(
      { _id: 'd' as never, name_key: { $exists: false } },
      { $set: { name_key: 'stale' } },
    );
    expect(skipped.matchedCount).toBe(0);
    expect((await rooms.find({}).sort({ _id: 1 }).toArray()).map((room) => room.name_key)).toEqual([
      'old',
      'new',
      undefined,
      'renamed',
    ]);
  });

  // ParticipantsRepository.adminAsLastSeen: a user's membership with the newest admin_at, documents
  // without one last (descending order puts a missing field after every date)
  it("should give a user's document with the newest date first, missing dates last, by a limit of one", async () => {
    const participants = fresh();
    await participants.createIndex({ user_id: 1, state: 1 });
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
    await participants.insertMany([
      { _id: 'r1|u' as never, user_id: 'u', state: 'member' },
      { _id: 'r2|u' as never, user_id: 'u', state: 'left', admin: true, admin_at: at(1) },
      { _id: 'r3|u' as never, user_id: 'u', state: 'banned', admin: false, admin_at: at(5) },
      { _id: 'r4|u' as never, user_id: 'u', state: 'member' },
      { _id: 'r1|v' as never, user_id: 'v', state: 'member', admin: true, admin_at: at(9) },
      { _id: 'r2|w' as never, user_id: 'w', state: 'member' },
    ]);
    const newest = async (userId: string) =>
      (
        await participants
          .find({ user_id: userId }, { projection: { admin: 1, admin_at: 1 } })
          .sort({ admin_at: -1, _id: 1 })
          .limit(1)
          .toArray()
      )[0];
    expect(await newest('u')).toEqual({ _id: 'r3|u', admin: false, admin_at: at(5) });
    expect(await newest('v')).toEqual({ _id: 'r1|v', admin: true, admin_at: at(9) });
    expect(await newest('w')).toEqual({ _id: 'r2|w' });
    expect(await newest('nobody')).toBeUndefined();
  });

  // RoomMessageUnread.newestTimes: the messages from a seq up counted per room in one aggregate of a
  // $or of (room_id, seq >= n) terms (the unread windows' shape, $gte instead of a closed range), and
  // the heads read in one find of such terms, only the room and the time projected
  it('should count and read a $or of room seq ranges from a seq up, projecting the room and time without _id', async () => {
    const messages = fresh();
    await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
    const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second));
    await messages.insertMany(
      ['a', 'b', 'c'].flatMap((room, roomIndex) =>
        Array.from({ length: 12 }, (_, index) => ({
          _id: `${room}${index + 1}` as never,
          room_id: room,
          seq: index + 1,
          created_at: at(roomIndex * 20 + index),
          content: 'x',
        })),
      ),
    );
    const found = await messages
      .find(
        {
          $or: [
            { room_id: 'a', seq: { $gte: 11 } },
            { room_id: 'b', seq: { $gte: 12 } },
            { room_id: 'z', seq: { $gte: 1 } },
          ],
        },
        { projection: { _id: 0, room_id: 1, created_at: 1 } },
      )
      .toArray();
    const counted = await messages
      .aggregate<{ _id: string; n: number }>([
        {
          $match: {
            $or: [
              { room_id: 'a', seq: { $gte: 1 } },
              { room_id: 'b', seq: { $gte: 12 } },
              { room_id: 'c', seq: { $gte: 5 } },
              { room_id: 'z', seq: { $gte: 1 } },
            ],
          },
        },
        { $group: { _id: '$room_id', n: { $sum: 1 } } },
      ])
      .toArray();
    expect(Object.fromEntries(counted.map(({ _id, n }) => [_id, n]))).toEqual({ a: 12, b: 1, c: 8 });
    expect(found.sort((x, y) => (x.created_at as Date).getTime() - (y.created_at as Date).getTime())).toEqual(
      [
        { room_id: 'a', created_at: at(10) },
        { room_id: 'a', created_at: at(11) },
        { room_id: 'b', created_at: at(31) },
      ],
    );
  });
});

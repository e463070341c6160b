import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { MongoClient, type Collection } from 'mongodb';
import { mongoUri } from '../helpers/env';
import { storeDatabase } from '../helpers/store-db';

// Every MongoDB semantic chatbox's repositories rely on, checked against the store in use
// (FerretDB 1.24 in tests and the embedded default; a real MongoDB with TEST_MONGODB_URL pointing at
// one). Where FerretDB differs, the test asserts what it really does and names the workaround
// (docs/protocol.md, "The store"): a FerretDB that fixes the difference fails here, and the
// workaround can then go.
describe('store conformance', () => {
  const store = storeDatabase('conf');

  const fresh = (): Collection<Record<string, unknown>> =>
    store.db.collection<Record<string, unknown>>(`c_${randomBytes(4).toString('hex')}`);

  describe('what the repositories rely on', () => {
    // Where a file was attached (FilesRepository.markAttached, FileAttachment): one document per pair,
    // its `_id` the pair, written by an upsert of $setOnInsert; attaching at once under one scope
    // leaves one document, and a loser's duplicate-key error (11000) is taken as attached. Read back by
    // $in on one scalar field with $ne on another (never `a.b` $ne on an array: FerretDB matches it
    // wrongly).
    it('should keep one document for concurrent upserts of one _id, and match $in with a scalar $ne', async () => {
      const attachments = fresh();
      const upsert = (scope: string) =>
        attachments
          .updateOne(
            { _id: JSON.stringify(['f1', scope]) as never },
            { $setOnInsert: { file_id: 'f1', scope } },
            { upsert: true },
          )
          .then(
            () => 'written',
            (error: { code?: number }) => (error.code === 11000 ? 'duplicate' : `failed ${error.code}`),
          );
      const outcomes = await Promise.all(
        [...Array(6).keys()].map((index) => upsert(index < 3 ? 's1' : 'room:r')),
      );
      expect(outcomes.every((outcome) => outcome === 'written' || outcome === 'duplicate')).toBe(true);
      await attachments.insertOne({ _id: JSON.stringify(['f2', 's1']) as never, file_id: 'f2', scope: 's1' });
      expect(await attachments.countDocuments({ file_id: 'f1' })).toBe(2);
      const elsewhere = await attachments
        .find({ file_id: { $in: ['f1', 'f2', 'f3'] }, scope: { $ne: 's1' } })
        .toArray();
      expect(elsewhere.map((document) => [document.file_id, document.scope])).toEqual([['f1', 'room:r']]);
      expect(
        await attachments.countDocuments({ _id: JSON.stringify(['f1', 's1']) as never, file_id: 'f1' }),
      ).toBe(1);
    });

    // The admin list as of a time (AdminRepository, toMongoFilter): active then = still active, or
    // ended after it; ended then = ended by it. Also the blocks of a user either way
    // (BlocksRepository.counterparts): $or of two equalities on two fields.
    it('should match $or of an equality and a $gt on dates, beside a range on another field', async () => {
      const sessions = fresh();
      const at = (ms: number) => new Date(1_800_000_000_000 + ms);
      await sessions.insertMany([
        { _id: 'open' as never, is_active: true, end_time: null, start_time: at(0) },
        { _id: 'ended-after' as never, is_active: false, end_time: at(500), start_time: at(0) },
        { _id: 'ended-before' as never, is_active: false, end_time: at(50), start_time: at(0) },
        { _id: 'started-after' as never, is_active: true, end_time: null, start_time: at(300) },
      ]);
      const asOf = at(100);
      const ids = async (filter: Record<string, unknown>) =>
        (await sessions.find(filter).sort({ _id: 1 }).toArray()).map((document) => document._id);
      expect(
        await ids({ $or: [{ is_active: true }, { end_time: { $gt: asOf } }], start_time: { $lte: asOf } }),
      ).toEqual(['ended-after', 'open']);
      expect(await ids({ is_active: false, end_time: { $lte: asOf }, start_time: { $lte: asOf } })).toEqual([
        'ended-before',
      ]);
      const blocks = fresh();
      await blocks.insertMany([
        { blocker_id: 'a', blocked_id: 'b' },
        { blocker_id: 'c', blocked_id: 'a' },
        { blocker_id: 'c', blocked_id: 'd' },
      ]);
      const either = await blocks.find({ $or: [{ blocker_id: 'a' }, { blocked_id: 'a' }] }).toArray();
      expect(either.map((block) => `${block.blocker_id}>${block.blocked_id}`).sort()).toEqual(['a>b', 'c>a']);
    });

    it('should find by exact _id with a projection that leaves out the messages', async () => {
      const sessions = fresh();
      await sessions.insertOne({
        _id: 's1' as never,
        user_id: 'u',
        seq: 2,
        messages: [{ seq: 1 }, { seq: 2 }],
      });
      expect(await sessions.findOne({ _id: 's1' as never }, { projection: { messages: 0 } })).toEqual({
        _id: 's1',
        user_id: 'u',
        seq: 2,
      });
      expect(await sessions.findOne({ _id: 's1' as never }, { projection: { seq: 1 } })).toEqual({
        _id: 's1',
        seq: 2,
      });
    });

    // The stored key ids' sample at start (StoredKeyIdsRepository): a limited find projecting a path
    // into an array of subdocuments, `_id` left out. FerretDB 1.24 refuses `$slice` (as a projection
    // and as an aggregation expression), so the sample of sessions is bounded by their count alone.
    it('should project a dotted path through an array with a limit, and refuse $slice on FerretDB', async () => {
      const sessions = fresh();
      await sessions.insertMany([
        { _id: 'a' as never, name: 'x', messages: [{ content: 'k1.a.b', type: 't' }, { content: 'k2.c.d' }] },
        { _id: 'b' as never, messages: [] },
        { _id: 'c' as never, messages: [{ content: 'k3.e.f' }] },
      ]);
      const found = await sessions
        .find({}, { projection: { _id: 0, 'messages.content': 1 } })
        .limit(2)
        .toArray();
      expect(found).toHaveLength(2);
      expect(found).toContainEqual({ messages: [{ content: 'k1.a.b' }, { content: 'k2.c.d' }] });
      const sliced = sessions.find({}, { projection: { messages: { $slice: 1 } } }).toArray();
      if (store.ferret) await expect(sliced).rejects.toThrow(/slice/);
      else await expect(sliced).resolves.toHaveLength(3);
    });

    // A search reads the sessions it found one at a time off a cursor (SessionsRepository.search):
    // sorted, limited, in batches of one document, every later one by getMore.
    it('should give a sorted, limited find in batches of one, each document once and in order', async () => {
      const sessions = fresh();
      await sessions.insertMany(
        Array.from({ length: 6 }, (_, index) => ({
          _id: `s${index}` as never,
          user_id: index === 2 ? 'other' : 'u',
          last_activity: new Date(1_000 * index),
          messages: [{ seq: 1, content: 'x'.repeat(1_000) }],
        })),
      );
      const found: string[] = [];
      for await (const document of sessions
        .find({ user_id: 'u' }, { projection: { messages: 1, last_activity: 1 } })
        .sort({ last_activity: -1 })
        .limit(4)
        .batchSize(1))
        found.push(String(document._id));
      expect(found).toEqual(['s5', 's4', 's3', 's1']);
    });

    // A room message's edit and a reaction land only over an older time and a lower change number
    // (RoomMessagesRepository.edit, ReactionsRepository.set; docs/protocol.md, "Change log"): an
    // updateOne whose filter is an $and of two $or, each matching a field missing or null, or below.
    it('should update only where an $and of two $or (missing or null, or below) matches', async () => {
      const docs = fresh();
      await docs.insertMany([
        { _id: 'none' as never, at: null },
        { _id: 'low' as never, at: 1, change: 3 },
        { _id: 'high' as never, at: 1, change: 9 },
        { _id: 'later' as never, at: 7, change: 3 },
      ]);
      const newer = (at: number, change: number) => ({
        $and: [
          { $or: [{ at: null }, { at: { $lte: at } }] },
          { $or: [{ change: null }, { change: { $lt: change } }] },
        ],
      });
      for (const [id, matched] of [
        ['none', 1],
        ['low', 1],
        ['high', 0],
        ['later', 0],
      ] as const) {
        const result = await docs.updateOne({ _id: id as never, ...newer(5, 5) }, { $set: { change: 5 } });
        expect([id, result.matchedCount]).toEqual([id, matched]);
      }
      expect((await docs.find({}).sort({ _id: 1 }).toArray()).map((doc) => [doc._id, doc.change])).toEqual([
        ['high', 9],
        ['later', 3],
        ['low', 5],
        ['none', 5],
      ]);
    });

    // FerretDB's build decodes only the fields a projection keeps and the filter and sort name
    // (pushdown-sessions.patch, ChatboxKeep): a session's head is read without decoding its messages.
    // Whatever the projection, filter and sort, the answer is the unprojected answer projected.
    it('should answer a projected find as the unprojected find projected, whatever the filter and sort name', async () => {
      const docs = fresh();
      const rows = Array.from({ length: 24 }, (_, index) => ({
        _id: `d${String(index).padStart(2, '0')}`,
        a: index % 5,
        b: ['x', 'y', 'z'][index % 3],
        big: Array.from({ length: index % 4 }, (__, k) => ({ x: k + index, y: `v${k}` })),
        sub: { y: index, z: index % 2 === 0 },
      }));
      await docs.insertMany(rows as never[]);
      const projections: Array<Record<string, 0 | 1>> = [
        { big: 0 },
        { big: 0, sub: 0 },
        { a: 1 },
        { a: 1, 'big.x': 1 },
        { 'sub.y': 0 },
        { _id: 0, b: 1 },
        { _id: 0 },
      ];
      const filters: Array<Record<string, unknown>> = [
        {},
        { a: { $gt: 1 } },
        { 'big.x': { $gte: 10 } },
        { $or: [{ b: 'x' }, { big: { $size: 2 } }] },
        { 'sub.z': true },
        { $nor: [{ 'sub.y': { $lt: 12 } }, { big: { $size: 0 } }] },
      ];
      const sorts: Array<Record<string, 1 | -1>> = [{ _id: 1 }, { b: 1, _id: -1 }, { 'sub.y': -1 }];
      // MongoDB's projection for these shapes: top-level and one-level dotted paths
      const project = (doc: Record<string, unknown>, projection: Record<string, 0 | 1>) => {
        const inclusive = Object.entries(projection).some(([key, on]) => key !== '_id' && on === 1);
        const out: Record<string, unknown> = inclusive ? {} : structuredClone(doc);
        for (const [path, on] of Object.entries(projection)) {
          const [top, inner] = path.split('.');
          if (!inclusive) {
            if (on === 0 && inner === undefined) delete out[top];
            else if (on === 0) delete (out[top] as Record<string, unknown>)[inner];
            continue;
          }
          if (top === '_id' || inner === undefined) {
            if (on === 1 && top in doc) out[top] = doc[top];
            continue;
          }
          const value = doc[top];
          out[top] = Array.isArray(value)
            ? value.map((item: Record<string, unknown>) => (inner in item ? { [inner]: item[inner] } : {}))
            : { [inner]: (value as Record<string, unknown>)[inner] };
        }
        if (inclusive && projection._id !== 0) out._id = doc._id;
        if (projection._id === 0) delete out._id;
        return out;
      };
      // every combination (126): a field the filter or the sort reads is decoded even when left out
      const byKeys = (doc: Record<string, unknown>) =>
        JSON.stringify(doc, Object.keys(doc).sort().concat(['x', 'y', 'z']));
      for (const projection of projections)
        for (const filter of filters)
          for (const sort of sorts) {
            const whole = await docs.find(filter).sort(sort).toArray();
            const projected = await docs.find(filter, { projection }).sort(sort).toArray();
            expect({ projection, filter, sort, found: projected.map(byKeys) }).toEqual({
              projection,
              filter,
              sort,
              found: whole.map((doc) => byKeys(project(doc as Record<string, unknown>, projection))),
            });
          }
    });

    it('should apply $set, $inc, $push and $max together in one update', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, seq: 0, bytes: 0, max: 5, messages: [] });
      const result = await sessions.updateOne({ _id: 's' as never, seq: 0, bytes: { $lte: 100 } }, {
        $set: { seq: 1 },
        $inc: { bytes: 10 },
        $push: { messages: { seq: 1 } },
        $max: { max: 9 },
      } as never);
      expect(result.modifiedCount).toBe(1);
      expect(await sessions.findOne({ _id: 's' as never })).toEqual({
        _id: 's',
        seq: 1,
        bytes: 10,
        max: 9,
        messages: [{ seq: 1 }],
      });
    });

    // A reply raises its session's answered_turn_seq (SessionAppend, session-rules.ts turnHeadAfter):
    // a missing or null field takes the value, a larger one stays, beside a $max of another field.
    it('should $max a missing, a null and a larger field as MongoDB does, two fields at once', async () => {
      const sessions = fresh();
      await sessions.insertMany([
        { _id: 'missing' as never, max: 1 },
        { _id: 'null' as never, max: 1, answered: null },
        { _id: 'larger' as never, max: 1, answered: 7 },
      ]);
      for (const id of ['missing', 'null', 'larger'])
        await sessions.updateOne({ _id: id as never }, {
          $set: { seq: 1 },
          $max: { max: 3, answered: 4 },
        } as never);
      const stored = await sessions.find({}).sort({ _id: 1 }).toArray();
      expect(stored.map((document) => [document._id, document.max, document.answered])).toEqual([
        ['larger', 3, 7],
        ['missing', 3, 4],
        ['null', 3, 4],
      ]);
    });

    // A message's search tokens join its session's set of them (SessionsRepository.append). FerretDB's
    // build looks strings up in a set there (update-addtoset-set.patch): the answer must stay
    // MongoDB's, for strings, other scalars of the same look ('1' and 1), documents, and values
    // repeated within $each.
    it('should add each $each value of $addToSet once, keeping the order, as MongoDB does', async () => {
      const docs = fresh();
      const value = fc.oneof(
        fc.constantFrom('a', 'b', 'c', '1', '2', ''),
        fc.integer({ min: 1, max: 3 }),
        fc.record({ x: fc.integer({ min: 1, max: 2 }) }),
      );
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(value, { maxLength: 8 }),
          fc.array(value, { maxLength: 8 }),
          async (held, added) => {
            const _id = `d${run++}`;
            await docs.insertOne({ _id: _id as never, set: held });
            await docs.updateOne({ _id: _id as never }, { $addToSet: { set: { $each: added } } } as never);
            const expected = [...held];
            for (const item of added)
              if (!expected.some((kept) => JSON.stringify(kept) === JSON.stringify(item)))
                expected.push(item);
            expect((await docs.findOne({ _id: _id as never }))?.set).toEqual(expected);
          },
        ),
        { numRuns: 60 },
      );
      // a session's worth: thousands held, hundreds added, some of them held already
      const held = Array.from({ length: 4000 }, (_, index) => `t${index}`);
      const added = Array.from({ length: 300 }, (_, index) => `t${3900 + index}`);
      await docs.insertOne({ _id: 'big' as never, set: held });
      const result = await docs.updateOne({ _id: 'big' as never }, {
        $addToSet: { set: { $each: [...added, 't4100', 7] } },
      } as never);
      expect(result.modifiedCount).toBe(1);
      expect((await docs.findOne({ _id: 'big' as never }))?.set).toEqual([
        ...held,
        ...Array.from({ length: 200 }, (_, index) => `t${4000 + index}`),
        7,
      ]);
    });

    it('should not update when the compare-and-set filter does not match (one writer at a time)', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, seq: 3 });
      expect(
        (await sessions.updateOne({ _id: 's' as never, seq: 2 }, { $set: { seq: 3 } })).modifiedCount,
      ).toBe(0);
      const after = await sessions.findOneAndUpdate(
        { _id: 's' as never, seq: 3 },
        { $set: { seq: 4 } },
        { returnDocument: 'after' },
      );
      expect(after).toMatchObject({ seq: 4 });
    });

    // a session's first message names it in the same write, on condition it has no name yet
    it('should set a field its own filter pins, and leave the document alone when the field differs', async () => {
      const sessions = fresh();
      await sessions.insertMany([
        { _id: 'unnamed' as never, user_id: 'u', seq: 0, name: 'New chat' },
        { _id: 'named' as never, user_id: 'u', seq: 0, name: 'Chosen' },
      ]);
      const guarded = (id: string) =>
        sessions.findOneAndUpdate(
          { _id: id as never, seq: 0, user_id: 'u', name: 'New chat' },
          { $set: { seq: 1, name: 'First words' } },
          { returnDocument: 'after' },
        );
      expect(await guarded('unnamed')).toMatchObject({ seq: 1, name: 'First words' });
      expect(await guarded('named')).toBeNull();
      expect(await sessions.findOne({ _id: 'named' as never })).toMatchObject({ seq: 0, name: 'Chosen' });
    });

    it('should refuse a second insert with the same unique key, also when 50 race', async () => {
      const claims = fresh();
      await claims.createIndex({ session_id: 1, seq: 1 }, { unique: true });
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, index) =>
          claims.insertOne({ session_id: 's', seq: 7, writer: index }),
        ),
      );
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as { code?: number }).code).toBe(11000);
      expect(await claims.countDocuments({ session_id: 's' })).toBe(1);
    });

    // the coalesced connects (docs/protocol.md, "Opening a session"): a batch of new users' pointers
    // and sessions is one unordered insertMany, a taken _id fails that document alone, named by its
    // index; a batch of reads is one find of `_id: {$in}` (which may name an _id twice)
    it('should store every document of an unordered insertMany but those whose _id is taken, naming each by index', async () => {
      const pointers = fresh();
      await pointers.insertMany([
        { _id: 'u2' as never, n: 0 },
        { _id: 'u4' as never, n: 0 },
      ]);
      const batch = ['u1', 'u2', 'u3', 'u4', 'u5'].map((id) => ({ _id: id as never, n: 1 }));
      const failure = await pointers.insertMany(batch, { ordered: false }).then(
        () => undefined,
        (error: unknown) => error as { writeErrors: Array<{ index: number; code: number }> },
      );
      const writeErrors = [failure?.writeErrors ?? []].flat();
      expect(writeErrors.map((entry) => [entry.index, entry.code])).toEqual([
        [1, 11000],
        [3, 11000],
      ]);
      const stored = await pointers
        .find({ _id: { $in: ['u1', 'u2', 'u3', 'u4', 'u5', 'u3'] as never[] } })
        .toArray();
      expect(stored.map((document) => [document._id, document.n]).sort()).toEqual([
        ['u1', 1],
        ['u2', 0],
        ['u3', 1],
        ['u4', 0],
        ['u5', 1],
      ]);
    });

    // coalesced writes (docs/protocol.md, "The store"): one unordered bulkWrite of updateOne carries
    // appends to several sessions; a compare-and-set that fails leaves the others applied, and the
    // bulk's modified count says whether every one was
    it('should apply each updateOne of an unordered bulkWrite on its own, counting the ones modified', async () => {
      const sessions = fresh();
      await sessions.insertMany(
        ['a', 'b', 'c'].map((id) => ({ _id: id as never, seq: 1, bytes: 0, messages: [{ seq: 1 }] })),
      );
      const append = (id: string, expected: number): never =>
        ({
          updateOne: {
            filter: { _id: id as never, seq: expected, bytes: { $lte: 100 } },
            update: {
              $set: { seq: expected + 1 },
              $inc: { bytes: 10 },
              $push: { messages: { seq: expected + 1 } },
            },
          },
        }) as never;
      const result = await sessions.bulkWrite([append('a', 1), append('b', 7), append('c', 1)], {
        ordered: false,
      });
      expect(result.matchedCount).toBe(2);
      expect(result.modifiedCount).toBe(2);
      expect(await sessions.find({}).sort({ _id: 1 }).toArray()).toEqual([
        { _id: 'a', seq: 2, bytes: 10, messages: [{ seq: 1 }, { seq: 2 }] },
        { _id: 'b', seq: 1, bytes: 0, messages: [{ seq: 1 }] },
        { _id: 'c', seq: 2, bytes: 10, messages: [{ seq: 1 }, { seq: 2 }] },
      ]);
      const all = await sessions.bulkWrite([append('a', 2), append('b', 1)], { ordered: false });
      expect(all.modifiedCount).toBe(2);
    });

    // FerretDB 1.24 held each statement's query open until its update command ended, and a limited
    // query holds a pooled SQLite connection: a command of 100 or more statements took the whole
    // pool and never answered, and nothing else was answered after it (update-per-statement.patch).
    // chatbox also keeps its bulk writes to 50 statements (SessionsRepository).
    it('should answer a bulkWrite of 150 updateOne, and the store goes on answering', async () => {
      const docs = fresh();
      await docs.insertMany(Array.from({ length: 150 }, (_, index) => ({ _id: `d${index}` as never, v: 0 })));
      const timed = new MongoClient(mongoUri(store.db.databaseName), { socketTimeoutMS: 10_000 });
      try {
        const result = await timed
          .db()
          .collection(docs.collectionName)
          .bulkWrite(
            Array.from({ length: 150 }, (_, index) => ({
              updateOne: { filter: { _id: `d${index}` as never }, update: { $inc: { v: 1 } } },
            })),
            { ordered: false },
          );
        expect(result.modifiedCount).toBe(150);
      } finally {
        await timed.close();
      }
      expect(await docs.countDocuments({ v: 1 })).toBe(150);
    });

    it('should filter dates with $lt, sort and limit', async () => {
      const sessions = fresh();
      const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 0, minutes));
      await sessions.insertMany(
        [1, 2, 3, 4].map((minute) => ({ is_active: true, last_activity: at(minute), n: minute })),
      );
      const found = await sessions
        .find({ is_active: true, last_activity: { $lt: at(4) } })
        .sort({ last_activity: -1 })
        .limit(2)
        .toArray();
      expect(found.map((document) => document.n)).toEqual([3, 2]);
    });

    it('should match {f: {$ne: true}} on a document where f is false or missing, not true', async () => {
      const sessions = fresh();
      await sessions.insertMany([
        { _id: 'missing' as never },
        { _id: 'false' as never, help_pending: false },
        { _id: 'true' as never, help_pending: true },
      ]);
      const found = await sessions.find({ help_pending: { $ne: true } }).toArray();
      expect(found.map((document) => document._id).sort()).toEqual(['false', 'missing']);
    });

    // A user's message stored with the copy of the session an instance holds is guarded on the copy's
    // fields (SessionsRepository.append, `held`): an unassisted session's guard is `{f: null}`, which
    // must match a null or a missing field and nothing else, and string fields match by equality.
    it('should update where {f: null} matches a null or missing field and a string field is equal, nothing else', async () => {
      const sessions = fresh();
      await sessions.insertMany([
        { _id: 'null' as never, model_id: 'm', assisting_admin_id: null, n: 0 },
        { _id: 'missing' as never, model_id: 'm', n: 0 },
        { _id: 'assisted' as never, model_id: 'm', assisting_admin_id: 'admin', n: 0 },
        { _id: 'other-model' as never, model_id: 'x', assisting_admin_id: null, n: 0 },
        { _id: 'empty' as never, model_id: 'm', assisting_admin_id: '', n: 0 },
      ]);
      const result = await store.db.collection(sessions.collectionName).bulkWrite(
        ['null', 'missing', 'assisted', 'other-model', 'empty'].map((id) => ({
          updateOne: {
            filter: { _id: id as never, model_id: 'm', assisting_admin_id: null },
            update: { $inc: { n: 1 } },
          },
        })),
        { ordered: false },
      );
      expect(result.modifiedCount).toBe(2);
      const touched = await sessions.find({ n: 1 }).toArray();
      expect(touched.map((document) => document._id).sort()).toEqual(['missing', 'null']);
    });

    // An admin's message is guarded on the takeover mirrored on the session (SessionsRepository.append,
    // `takeover`): a string field and a date field by equality, to the millisecond, in a bulkWrite
    // (the shared appends) and in a findOneAndUpdate alike; null and another instant do not match.
    it('should update where a string and a date equal the filter, to the millisecond, and nowhere else', async () => {
      const sessions = fresh();
      const start = new Date('2026-12-04T10:00:00.123Z');
      await sessions.insertMany([
        { _id: 'held' as never, assisting_admin_id: 'ada', takeover_started_at: start, n: 0 },
        { _id: 'ended' as never, assisting_admin_id: null, takeover_started_at: null, n: 0 },
        {
          _id: 'later' as never,
          assisting_admin_id: 'ada',
          takeover_started_at: new Date(start.getTime() + 1),
          n: 0,
        },
        { _id: 'other' as never, assisting_admin_id: 'bob', takeover_started_at: start, n: 0 },
      ]);
      const filter = (id: string): Record<string, unknown> => ({
        _id: id,
        assisting_admin_id: 'ada',
        takeover_started_at: new Date(start.getTime()),
      });
      const result = await store.db.collection(sessions.collectionName).bulkWrite(
        ['held', 'ended', 'later', 'other'].map((id) => ({
          updateOne: { filter: filter(id), update: { $inc: { n: 1 } } },
        })),
        { ordered: false },
      );
      expect(result.modifiedCount).toBe(1);
      expect(
        await sessions.findOneAndUpdate(filter('held'), { $inc: { n: 1 } } as never, {
          returnDocument: 'after',
        }),
      ).toMatchObject({ n: 2 });
      expect(await sessions.findOneAndUpdate(filter('later'), { $inc: { n: 1 } } as never)).toBeNull();
      const touched = await sessions.find({ n: { $gt: 0 } }).toArray();
      expect(touched.map((document) => document._id)).toEqual(['held']);
    });

    it('should unset a field and match it with $exists', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, reply_due: new Date(0) });
      await sessions.updateOne({ _id: 's' as never }, { $unset: { reply_due: '' } });
      expect(await sessions.countDocuments({ reply_due: { $exists: true } })).toBe(0);
      expect(await sessions.countDocuments({ _id: 's' as never, reply_due: { $exists: false } })).toBe(1);
    });
  });

  describe('where FerretDB 1.24 differs (each names its workaround)', () => {
    // Workaround: a client_id is looked up in code under the session lock (SessionsService.append);
    // the $ne filter stays in the update only as MongoDB's second guard.
    it('matches {"a.b": {$ne: x}} against an array that holds x only on FerretDB', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, messages: [{ dedup: 'user:k' }, { dedup: 'user:j' }] });
      const matched = await sessions.countDocuments({
        _id: 's' as never,
        'messages.dedup': { $ne: 'user:k' },
      });
      expect(matched).toBe(store.ferret ? 1 : 0);
    });

    // Workaround: every write to a session document runs under the session lock (SessionLock: Redis
    // across instances, in-process otherwise), so the store never sees two updates of one document
    // at once.
    it('loses concurrent $push to one document on FerretDB, keeps them all on MongoDB', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, messages: [] });
      const clients = await Promise.all(
        Array.from({ length: 4 }, () => new MongoClient(mongoUri(store.db.databaseName)).connect()),
      );
      try {
        await Promise.all(
          Array.from({ length: 50 }, (_, index) =>
            clients[index % clients.length]
              .db()
              .collection(sessions.collectionName)
              .updateOne({ _id: 's' as never }, { $push: { messages: index } } as never),
          ),
        );
      } finally {
        await Promise.all(clients.map((each) => each.close()));
      }
      const kept = ((await sessions.findOne({ _id: 's' as never }))?.messages as unknown[]).length;
      if (store.ferret) expect(kept).toBeLessThan(50);
      else expect(kept).toBe(50);
    });

    // workaround: an append takes the whole written document back and decrypts its log only when
    // the instance does not hold it (SessionsRepository.append, `returning`)
    it('refuses a projection in findAndModify on FerretDB, applies it on MongoDB', async () => {
      const sessions = fresh();
      await sessions.insertOne({ _id: 's' as never, seq: 1, messages: [{ seq: 1 }], search_tokens: ['a'] });
      const update = sessions.findOneAndUpdate(
        { _id: 's' as never, seq: 1 },
        { $set: { seq: 2 }, $push: { messages: { seq: 2 } } } as never,
        { returnDocument: 'after', projection: { messages: 0, search_tokens: 0 } },
      );
      if (store.ferret) await expect(update).rejects.toThrow(/not implemented/);
      else await expect(update).resolves.toEqual({ _id: 's', seq: 2 });
      const whole = await sessions.findOneAndUpdate({ _id: 's' as never }, { $set: { seq: 3 } } as never, {
        returnDocument: 'after',
      });
      expect(whole).toMatchObject({ seq: 3, search_tokens: ['a'] });
    });

    // Workaround: records that expire are deleted by jobs (room retention, notification marks).
    it('refuses TTL indexes on FerretDB', async () => {
      const keys = fresh();
      const created = keys.createIndex({ at: 1 }, { expireAfterSeconds: 60 });
      if (store.ferret) await expect(created).rejects.toThrow(/expireAfterSeconds/);
      else await expect(created).resolves.toBe('at_1');
    });

    // Workaround: the same session lock; the compare-and-set on seq is then exact on both stores.
    // A race: on a busy machine one round may happen to serialise, so FerretDB gets up to five rounds
    // to show it; MongoDB must let exactly one through in every round.
    it('lets several concurrent compare-and-set updates all succeed on FerretDB', async () => {
      const sessions = fresh();
      const clients = await Promise.all(
        Array.from({ length: 4 }, () => new MongoClient(mongoUri(store.db.databaseName)).connect()),
      );
      const rounds: number[] = [];
      try {
        for (let round = 0; round < 5 && !(store.ferret && rounds.some((won) => won > 1)); round++) {
          await sessions.deleteMany({});
          await sessions.insertOne({ _id: 's' as never, seq: 0 });
          let succeeded = 0;
          await Promise.all(
            Array.from({ length: 50 }, async (_, index) => {
              const collection = clients[index % clients.length].db().collection(sessions.collectionName);
              const result = await collection.updateOne(
                { _id: 's' as never, seq: 0 },
                { $set: { seq: 1, by: index } },
              );
              succeeded += result.modifiedCount;
            }),
          );
          rounds.push(succeeded);
        }
      } finally {
        await Promise.all(clients.map((each) => each.close()));
      }
      if (store.ferret) expect(Math.max(...rounds)).toBeGreaterThan(1);
      else expect(rounds).toEqual([1, 1, 1, 1, 1]);
    });
  });
});

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Long, MongoClient, type Collection, type Db, type IndexSpecification } from 'mongodb';
import { tokenFilter } from '../../src/common/crypto/blind-index';
import { SessionSchema } from '../../src/modules/sessions/schemas/session.schema';
import { SessionTermsSchema } from '../../src/modules/sessions/schemas/session-terms.schema';
import { mongoUri } from '../helpers/env';

// The admin list's filters, orders and counts and the idle sweep's read (src/modules/admin/
// admin.repository.ts, sessions.repository.ts findIdle), checked against the store in use with the
// sessions collection's own indexes. FerretDB's build answers them in SQLite
// (scripts/tools/ferretdb/pushdown-sessions.patch: booleans, dates, nullable numbers, the orders by
// them, skip + limit, and the `count` command), where stock 1.24 decodes every session in Go; the
// results must be MongoDB's, so each query is compared with MongoDB's semantics written out here.

type Row = {
  _id: string;
  user_id: string;
  is_active: boolean;
  admin_assisted: boolean;
  help_requested: boolean;
  console?: boolean;
  start_time: Date;
  last_activity: Date;
  end_time?: Date | null;
  duration_ms?: number | null;
  feedback_down?: number;
};

type Filter = Record<string, unknown>;
type Sort = Array<[string, 1 | -1]>;

const DAY = 86_400_000;
const BASE = Date.UTC(2026, 0, 1);

// one value a field may be left out as (missing) as well as null, as older documents are
const maybe = <T>(value: fc.Arbitrary<T>) =>
  fc.oneof(value, fc.constant(null), fc.constant(undefined as unknown as T));

const rowArbitrary = (index: number): fc.Arbitrary<Row> =>
  fc
    .record({
      user: fc.integer({ min: 0, max: 5 }),
      active: fc.boolean(),
      assisted: fc.boolean(),
      help: fc.boolean(),
      console: fc.constantFrom(true, false, undefined),
      // a few equal start times, so the _id tie-break is exercised
      start: fc.integer({ min: 0, max: 40 }),
      idle: fc.integer({ min: 0, max: 10 * DAY }),
      duration: maybe(fc.integer({ min: 0, max: 3 * DAY })),
      feedback: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    })
    .map((r) => {
      const start = new Date(BASE + r.start * (DAY / 4));
      const row: Row = {
        _id: `s${String(index).padStart(3, '0')}`,
        user_id: `user-${r.user}`,
        is_active: r.active,
        admin_assisted: r.assisted,
        help_requested: r.help,
        start_time: start,
        last_activity: new Date(start.getTime() + r.idle),
      };
      if (r.console !== undefined) row.console = r.console;
      if (r.duration !== undefined) row.duration_ms = r.duration;
      row.end_time =
        r.duration === null || r.duration === undefined ? null : new Date(start.getTime() + r.duration);
      if (r.feedback !== undefined) row.feedback_down = r.feedback;
      return row;
    });

const filterArbitrary: fc.Arbitrary<Filter> = fc
  .record(
    {
      console: fc.constant({ $ne: true }),
      user_id: fc.integer({ min: 0, max: 6 }).map((n) => `user-${n}`),
      is_active: fc.boolean(),
      admin_assisted: fc.boolean(),
      help_requested: fc.oneof(
        fc.boolean(),
        fc.boolean().map((b) => ({ $ne: b })),
      ),
      feedback_down: fc.constant({ $gt: 0 }),
      start_time: fc
        .tuple(fc.integer({ min: -2, max: 42 }), fc.integer({ min: 0, max: 20 }), fc.constantFrom(0, 1, 2))
        .map(([from, span, which]) => {
          const low = new Date(BASE + from * (DAY / 4));
          const high = new Date(low.getTime() + span * (DAY / 4));
          return which === 0 ? { $gte: low, $lte: high } : which === 1 ? { $gte: low } : { $lte: high };
        }),
      duration_ms: fc.constantFrom(null, { $ne: null }, { $gt: DAY }),
      last_activity: fc.integer({ min: 0, max: 50 }).map((n) => ({ $lt: new Date(BASE + n * (DAY / 4)) })),
      // the metrics' sessions still open at a period's start (AdminRepository.period): a $or, which
      // pushdown-zrooms.patch answers in SQL when every clause is SQL-expressible
      $or: fc
        .integer({ min: 0, max: 50 })
        .map((n) => [{ end_time: { $gte: new Date(BASE + n * (DAY / 4)) } }, { is_active: true }]),
    },
    { requiredKeys: [] },
  )
  .map((filter) => filter as Filter);

const sortArbitrary: fc.Arbitrary<Sort> = fc
  .tuple(
    fc.constantFrom<Sort>(
      [['start_time', 1]],
      [['last_activity', 1]],
      [['user_id', 1]],
      [['duration_ms', 1]],
      [
        ['is_active', 1],
        ['start_time', -1],
      ],
      [],
    ),
    fc.constantFrom<1 | -1>(1, -1),
  )
  .map(([keys, direction]) => {
    if (keys.length === 0) return [];
    const flipped = keys.map(([field, order]) => [field, (order * direction) as 1 | -1] as [string, 1 | -1]);
    return [...flipped, ['_id', direction]];
  });

// MongoDB's semantics for the operators above, on the field shapes above
function matches(row: Row, filter: Filter): boolean {
  return Object.entries(filter).every(([field, condition]) => {
    if (field === '$or') return (condition as Filter[]).some((clause) => matches(row, clause));
    const value = (row as Record<string, unknown>)[field];
    if (condition === null) return value === null || value === undefined;
    if (typeof condition !== 'object' || condition instanceof Date) return value === condition;
    return Object.entries(condition as Record<string, unknown>).every(([op, operand]) => {
      if (op === '$ne') return operand === null ? value !== null && value !== undefined : value !== operand;
      if (value === null || value === undefined) return false;
      const [a, b] = [Number(value), Number(operand)];
      return op === '$gt' ? a > b : op === '$gte' ? a >= b : op === '$lt' ? a < b : a <= b;
    });
  });
}

// BSON order on these shapes: null and missing first, false before true, then by value
function rank(value: unknown): [number, number | string] {
  if (value === null || value === undefined) return [0, 0];
  if (typeof value === 'boolean') return [1, value ? 1 : 0];
  if (value instanceof Date) return [1, value.getTime()];
  return [1, value as number | string];
}

function compare(sort: Sort) {
  return (a: Row, b: Row): number => {
    for (const [field, order] of sort) {
      const [x, y] = [
        rank((a as Record<string, unknown>)[field]),
        rank((b as Record<string, unknown>)[field]),
      ];
      if (x[0] !== y[0]) return (x[0] - y[0]) * order;
      if (x[1] !== y[1]) return (x[1] < y[1] ? -1 : 1) * order;
    }
    return 0;
  };
}

describe('sessions store conformance (the admin list and the idle sweep)', () => {
  let client: MongoClient;
  let db: Db;
  let sessions: Collection<Row>;
  let rows: Row[];
  let ferret: boolean;

  beforeAll(async () => {
    client = await new MongoClient(mongoUri(`sessconf_${randomBytes(4).toString('hex')}`)).connect();
    db = client.db();
    sessions = db.collection<Row>('sessions');
    for (const [keys, options] of SessionSchema.indexes())
      await sessions.createIndex(keys as IndexSpecification, options as Record<string, unknown>);
    rows = fc.sample(fc.tuple(...Array.from({ length: 160 }, (_, index) => rowArbitrary(index))), {
      numRuns: 1,
      seed: 17,
    })[0];
    await sessions.insertMany(rows.map((row) => ({ ...row })));
    ferret =
      ((await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string }).ferretdbVersion !==
      undefined;
  }, 60_000);
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  const count = async (query: Filter) =>
    ((await db.command({ count: 'sessions', query })) as { n: number }).n;

  it('should find, order, skip, limit and count every admin filter as MongoDB does', async () => {
    await fc.assert(
      fc.asyncProperty(
        filterArbitrary,
        sortArbitrary,
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 25 }),
        async (filter, sort, skip, limit) => {
          const expected = rows.filter((row) => matches(row, filter));
          expect(await count(filter)).toBe(expected.length);
          if (sort.length === 0) {
            // no order: the same set (the idle sweep reads this way, with a limit)
            const found = await sessions.find(filter).project({ _id: 1 }).toArray();
            expect(found.map((row) => row._id).sort()).toEqual(expected.map((row) => row._id).sort());
            return;
          }
          const found = await sessions
            .find(filter)
            .sort(Object.fromEntries(sort))
            .skip(skip)
            .limit(limit)
            .project({ _id: 1 })
            .toArray();
          const ordered = [...expected].sort(compare(sort)).map((row) => row._id);
          expect(found.map((row) => row._id)).toEqual(
            ordered.slice(skip, limit === 0 ? undefined : skip + limit),
          );
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);

  // An owner's append is guarded on `deleted: {$ne: true}` (SessionsRepository.append): in the shared
  // bulkWrite and in findOneAndUpdate alike it must match a session whose flag is false or missing
  // (sessions stored before the field) and never one deleted.
  it("should update where a top-level boolean's $ne: true matches false or missing, not true", async () => {
    const guarded = db.collection<{ _id: string; deleted?: boolean; n: number }>(
      `deleted_${randomBytes(4).toString('hex')}`,
    );
    await guarded.insertMany([
      { _id: 'kept', deleted: false, n: 0 },
      { _id: 'older', n: 0 },
      { _id: 'deleted', deleted: true, n: 0 },
    ]);
    const filter = (id: string) => ({ _id: id, deleted: { $ne: true } });
    const result = await guarded.bulkWrite(
      ['kept', 'older', 'deleted'].map((id) => ({
        updateOne: { filter: filter(id), update: { $inc: { n: 1 } } },
      })),
      { ordered: false },
    );
    expect(result.modifiedCount).toBe(2);
    expect(await guarded.findOneAndUpdate(filter('older'), { $inc: { n: 1 } })).toMatchObject({ n: 1 });
    expect(await guarded.findOneAndUpdate(filter('deleted'), { $inc: { n: 1 } })).toBeNull();
    expect(await guarded.find({}).sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'deleted', deleted: true, n: 0 },
      { _id: 'kept', deleted: false, n: 1 },
      { _id: 'older', n: 2 },
    ]);
  });

  // A reply to a turn is guarded on the turn being unanswered (SessionAppender.write: an $or of
  // `answered_turn_seq: null` and `$lt` the turn): in the shared bulkWrite and in findOneAndUpdate it
  // must match a number below, null or missing (sessions stored before the field), never one equal
  // or above
  it('should update where a nullable number is null, missing or below ($or of null and $lt), next to a seq', async () => {
    const guarded = db.collection<{ _id: string; seq: number; answered?: number | null; n: number }>(
      `answered_${randomBytes(4).toString('hex')}`,
    );
    await guarded.insertMany([
      { _id: 'below', seq: 1, answered: 2, n: 0 },
      { _id: 'null', seq: 1, answered: null, n: 0 },
      { _id: 'older', seq: 1, n: 0 },
      { _id: 'equal', seq: 1, answered: 3, n: 0 },
      { _id: 'above', seq: 1, answered: 7, n: 0 },
    ]);
    const filter = (id: string) => ({ _id: id, seq: 1, $or: [{ answered: null }, { answered: { $lt: 3 } }] });
    const result = await guarded.bulkWrite(
      ['below', 'null', 'older', 'equal', 'above'].map((id) => ({
        updateOne: { filter: filter(id), update: { $inc: { n: 1 } } },
      })),
      { ordered: false },
    );
    expect(result.modifiedCount).toBe(3);
    expect(await guarded.findOneAndUpdate(filter('older'), { $inc: { n: 1 } })).toMatchObject({ n: 1 });
    expect(await guarded.findOneAndUpdate(filter('equal'), { $inc: { n: 1 } })).toBeNull();
    expect((await guarded.find({}).sort({ _id: 1 }).toArray()).map((row) => `${row._id}:${row.n}`)).toEqual([
      'above:0',
      'below:1',
      'equal:0',
      'null:1',
      'older:2',
    ]);
  });

  // A user's session list is paged by a cursor (SessionsRepository.listForUser): after the page's last
  // session, in the order last_activity desc then _id desc, by a $or of a date $lt and a date
  // equality with an _id $lt. Many sessions share a last_activity here, so the _id order decides.
  it("should page a user's sessions by the (last_activity, _id) cursor as MongoDB does, ties included", async () => {
    type Listed = {
      _id: string;
      user_id: string;
      last_activity: Date;
      deleted?: boolean;
      archived?: boolean;
    };
    const listed = db.collection<Listed>(`listed_${randomBytes(4).toString('hex')}`);
    for (const [keys, options] of SessionSchema.indexes())
      await listed.createIndex(keys as IndexSpecification, options as Record<string, unknown>);
    const all = fc
      .sample(
        fc.array(
          fc.record({
            user: fc.integer({ min: 0, max: 1 }),
            at: fc.integer({ min: 0, max: 5 }),
            deleted: fc.constantFrom(true, false, undefined),
            archived: fc.constantFrom(true, false, undefined),
          }),
          { minLength: 40, maxLength: 40 },
        ),
        { numRuns: 1, seed: 23 },
      )[0]
      .map((row, index): Listed => {
        const document: Listed = {
          _id: `l${String((index * 7) % 40).padStart(2, '0')}`,
          user_id: `user-${row.user}`,
          last_activity: new Date(BASE + row.at * DAY),
        };
        if (row.deleted !== undefined) document.deleted = row.deleted;
        if (row.archived !== undefined) document.archived = row.archived;
        return document;
      });
    await listed.insertMany(all);
    const newestFirst = (a: Listed, b: Listed) =>
      b.last_activity.getTime() - a.last_activity.getTime() || (a._id < b._id ? 1 : a._id > b._id ? -1 : 0);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 7 }), fc.boolean(), async (limit, archived) => {
        const base = { user_id: 'user-0', deleted: { $ne: true }, archived: archived ? true : { $ne: true } };
        const expected = all
          .filter(
            (row) => row.user_id === 'user-0' && row.deleted !== true && (row.archived === true) === archived,
          )
          .sort(newestFirst)
          .map((row) => row._id);
        const paged: string[] = [];
        let before: Listed | undefined;
        for (;;) {
          const filter: Record<string, unknown> = { ...base };
          if (before)
            filter.$or = [
              { last_activity: { $lt: before.last_activity } },
              { last_activity: before.last_activity, _id: { $lt: before._id } },
            ];
          const page = await listed.find(filter).sort({ last_activity: -1, _id: -1 }).limit(limit).toArray();
          paged.push(...page.map((row) => row._id));
          if (page.length < limit) break;
          before = page[page.length - 1];
        }
        expect(paged).toEqual(expected);
      }),
      { numRuns: 20 },
    );
  });

  // The purge of deleted sessions (SessionRemoval, docs/protocol.md "Session library") reads
  // `deleted: true, deleted_at: {$lt: cutoff}`, `_id` only and a batch at a time, and reads it again
  // by `_id` under the session's lock before it removes one, with its owner and provider state (the
  // conversations at vendors it deletes; keys escaped, '%2E' for '.'). Sessions stored before the
  // fields have neither, live ones `false` and null: none of them may match, nor one deleted at the
  // cutoff. It finds a session's files by `$in` of session ids, on fields null in most documents.
  // per-key search tokens: while ENCRYPTION_KEY_PREVIOUS is set a search needs, for every query word,
  // one of its tokens under the listed keys (tokenFilter: an $and of an $in per word), in session_terms
  // with the user, the deleted mark's $ne and the newest first (SessionTermsRepository.matching), and
  // in sessions inside the $or beside an _id $in (SessionSearch.search). Found needed by the
  // key-rotation black-box audit in session 42 (a search after a rotation found nothing, 3 of 3 runs).
  it('should match per-key search tokens ($and of $in per word, also inside an $or) as MongoDB does', async () => {
    type Entry = { _id: string; user_id: string; tokens: string[]; last_activity: Date; deleted?: boolean };
    const entries = db.collection<Entry>(`terms_${randomBytes(4).toString('hex')}`);
    for (const [keys, options] of SessionTermsSchema.indexes())
      await entries.createIndex(keys as IndexSpecification, options as Record<string, unknown>);
    const token = fc.constantFrom('a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'c1', 'c2');
    const all = fc.sample(
      fc.array(
        fc.record({
          user: fc.integer({ min: 0, max: 2 }),
          tokens: fc.uniqueArray(token, { maxLength: 6 }),
          at: fc.integer({ min: 0, max: 30 }),
          deleted: fc.constantFrom(true, false, undefined),
        }),
        { minLength: 60, maxLength: 60 },
      ),
      { numRuns: 1, seed: 42 },
    )[0];
    const stored: Entry[] = all.map((entry, index) => ({
      _id: `t${String(index).padStart(3, '0')}`,
      user_id: `user-${entry.user}`,
      tokens: entry.tokens,
      // distinct times: the order is the store's alone
      last_activity: new Date(BASE + entry.at * DAY + index),
      ...(entry.deleted === undefined ? {} : { deleted: entry.deleted }),
    }));
    await entries.insertMany(stored.map((entry) => ({ ...entry })));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(token, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
        fc.boolean(),
        fc.integer({ min: 1, max: 20 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { maxLength: 4 }),
        async (byWord, user, includeDeleted, limit, picked) => {
          const filter: Filter = tokenFilter('tokens', byWord);
          if (user !== undefined) filter.user_id = `user-${user}`;
          if (!includeDeleted) filter.deleted = { $ne: true };
          const matches = (entry: Entry) =>
            byWord.every((alternatives) => alternatives.some((one) => entry.tokens.includes(one)));
          const expected = stored
            .filter(
              (entry) =>
                matches(entry) &&
                (user === undefined || entry.user_id === `user-${user}`) &&
                (includeDeleted || entry.deleted !== true),
            )
            .sort((a, b) => b.last_activity.getTime() - a.last_activity.getTime())
            .slice(0, limit)
            .map((entry) => entry._id);
          const found = await entries.find(filter).sort({ last_activity: -1 }).limit(limit).toArray();
          expect(found.map((entry) => entry._id)).toEqual(expected);
          // the sessions' shape: the index's candidates by id, or the tokens
          const ids = picked.map((index) => stored[index]._id);
          const either = await entries
            .find({
              $or: [...(ids.length > 0 ? [{ _id: { $in: ids } }] : []), tokenFilter('tokens', byWord)],
            })
            .toArray();
          expect(either.map((entry) => entry._id).sort()).toEqual(
            stored
              .filter((entry) => ids.includes(entry._id) || matches(entry))
              .map((entry) => entry._id)
              .sort(),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('should find deleted sessions past a cutoff, and records by $in of ids, as MongoDB does', async () => {
    type Purgeable = {
      _id: string;
      deleted?: boolean;
      deleted_at?: Date | null;
      scope?: string | null;
      user_id: string;
      provider_state?: Record<string, { conversation_id: string }>;
    };
    const purgeable = db.collection<Purgeable>(`purge_${randomBytes(4).toString('hex')}`);
    for (const [keys, options] of SessionSchema.indexes())
      await purgeable.createIndex(keys as IndexSpecification, options as Record<string, unknown>);
    const all = fc
      .sample(
        fc.array(
          fc.record({
            deleted: fc.constantFrom(true, false, undefined),
            at: maybe(fc.integer({ min: 0, max: 20 })),
            scope: maybe(fc.integer({ min: 0, max: 9 })),
          }),
          { minLength: 80, maxLength: 80 },
        ),
        { numRuns: 1, seed: 31 },
      )[0]
      .map((row, index): Purgeable => {
        const document: Purgeable = { _id: `p${String(index).padStart(2, '0')}`, user_id: `u${index}` };
        if (index % 2 === 1)
          document.provider_state = {
            dify: { conversation_id: `c${index}` },
            ...(index % 4 === 3 ? { 'dify%2Ev2': { conversation_id: `d${index}` } } : {}),
          };
        if (row.deleted !== undefined) document.deleted = row.deleted;
        if (row.at !== undefined)
          document.deleted_at = row.at === null ? null : new Date(BASE + row.at * DAY);
        if (row.scope !== undefined) document.scope = row.scope === null ? null : `s${row.scope}`;
        return document;
      });
    await purgeable.insertMany(all);
    const due = (row: Purgeable, cutoff: Date) =>
      row.deleted === true && row.deleted_at instanceof Date && row.deleted_at < cutoff;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -1, max: 22 }),
        fc.integer({ min: 1, max: 90 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 4 }),
        async (day, limit, scopes) => {
          const cutoff = new Date(BASE + day * DAY);
          const filter = { deleted: true, deleted_at: { $lt: cutoff } };
          const expected = all.filter((row) => due(row, cutoff)).map((row) => row._id);
          const found = (await purgeable.find(filter).project({ _id: 1 }).limit(limit).toArray()).map(
            (row) => row._id,
          );
          expect(found.length).toBe(Math.min(limit, expected.length));
          expect(found.filter((id) => !expected.includes(id))).toEqual([]);
          const one = all[(day + 1) * 3];
          const read = await purgeable.findOne(
            { _id: one._id, ...filter },
            { projection: { user_id: 1, provider_state: 1 } },
          );
          const { _id, user_id, provider_state } = one;
          expect(read).toEqual(
            due(one, cutoff) ? { _id, user_id, ...(provider_state ? { provider_state } : {}) } : null,
          );
          const ids = scopes.map((n) => `s${n}`);
          const inScopes = await purgeable
            .find({ scope: { $in: ids } })
            .project({ _id: 1 })
            .toArray();
          expect(inScopes.map((row) => row._id).sort()).toEqual(
            all.filter((row) => ids.includes(row.scope ?? '')).map((row) => row._id),
          );
        },
      ),
      { numRuns: 40 },
    );
    if (!ferret) return;
    // FerretDB cannot push the filter down (nothing in SQL for `deleted`): it scans, decoding only
    // the fields the filter reads and `_id`, never the messages (pushdown-sessions.patch, ChatboxKeep),
    // when the projection names a field: `{_id: 1}` alone names none, and every session is decoded
    const partial = async (projection: Record<string, 1>) =>
      (
        (await db.command({
          explain: {
            find: 'sessions',
            filter: { deleted: true, deleted_at: { $lt: new Date(BASE) } },
            projection,
            limit: 100,
          },
        })) as { chatboxPartialDecode?: boolean }
      ).chatboxPartialDecode;
    expect(await partial({ deleted_at: 1 })).toBe(true);
    expect(await partial({ _id: 1 })).toBe(false);
    // ...and has no partial index, which MongoDB serves the purge's query with (SessionRemoval)
    await expect(
      purgeable.createIndex({ deleted_at: 1 }, { partialFilterExpression: { deleted: true } }),
    ).rejects.toMatchObject({ codeName: 'NotImplemented' });
  });

  it('should answer the admin list, its count and the sweep in SQL on FerretDB, on the indexes', async () => {
    if (!ferret) return;
    const explain = async (command: Record<string, unknown>) =>
      (await db.command({ explain: command })) as {
        filterPushdown: boolean;
        sortPushdown: boolean;
        limitPushdown: boolean;
        chatboxCountPushdown?: boolean;
        chatboxSkipPushdown?: boolean;
        queryPlanner: { Plan: string[] };
      };
    const notConsole = { console: { $ne: true } };
    const page = await explain({
      find: 'sessions',
      filter: notConsole,
      sort: { start_time: -1, _id: -1 },
      skip: Long.fromNumber(40),
      limit: 20,
    });
    // the order ends with _id (total), so SQL skips the rows before the page too
    expect([page.filterPushdown, page.sortPushdown, page.limitPushdown, page.chatboxSkipPushdown]).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(page.queryPlanner.Plan.join('\n')).toMatch(/USING INDEX \S*_start_time_-1\b/);
    const ranged = await explain({
      find: 'sessions',
      filter: {
        ...notConsole,
        is_active: true,
        start_time: { $gte: new Date(BASE), $lte: new Date(BASE + DAY) },
      },
      sort: { start_time: -1, _id: -1 },
      limit: 20,
    });
    expect([ranged.filterPushdown, ranged.sortPushdown, ranged.limitPushdown]).toEqual([true, true, true]);
    expect(ranged.queryPlanner.Plan.join('\n')).toMatch(/USING INDEX/);
    const sweep = await explain({
      find: 'sessions',
      filter: { is_active: true, last_activity: { $lt: new Date(BASE) } },
      limit: 500,
    });
    expect([sweep.filterPushdown, sweep.limitPushdown]).toEqual([true, true]);
    expect(sweep.queryPlanner.Plan.join('\n')).toMatch(/USING INDEX \S*_is_active_1_last_activity_1\b/);
    for (const query of [
      notConsole,
      { ...notConsole, user_id: 'user-1', admin_assisted: false },
      { ...notConsole, duration_ms: null },
      { ...notConsole, duration_ms: { $ne: null }, feedback_down: { $gt: 0 } },
      { is_active: true, ...notConsole },
      // the admin totals: every session less the dashboards' (AdminRepository.count)
      {},
      { admin_assisted: true, console: true },
    ])
      expect((await explain({ count: 'sessions', query })).chatboxCountPushdown).toBe(true);
    // a session's head (connect, takeover, the admin rows) leaves the messages and the search index
    // undecoded (ChatboxKeep); a find whose filter reads the messages decodes them
    const decodes = async (find: Record<string, unknown>) =>
      ((await explain({ find: 'sessions', ...find })) as { chatboxPartialDecode?: boolean })
        .chatboxPartialDecode;
    expect(await decodes({ filter: { _id: 's001' }, projection: { messages: 0, search_tokens: 0 } })).toBe(
      true,
    );
    expect(await decodes({ filter: { _id: 's001' }, projection: { seq: 1 } })).toBe(true);
    expect(await decodes({ filter: { _id: 's001' } })).toBe(false);
    expect(await decodes({ filter: { $where: 'true' }, projection: { messages: 0 } })).toBe(false);
    // what SQL cannot answer wholly is left to the handler (the same results: the property above)
    // (a $or goes down only when every clause does: pushdown-zrooms.patch)
    expect(
      (await explain({ count: 'sessions', query: { $or: [{ is_active: true }, { search_tokens: 'x' }] } }))
        .chatboxCountPushdown,
    ).toBe(false);
    expect(
      (
        await explain({
          count: 'sessions',
          query: {
            start_time: { $lt: new Date(BASE) },
            $or: [{ end_time: { $gte: new Date(BASE) } }, { is_active: true }],
          },
        })
      ).chatboxCountPushdown,
    ).toBe(true);
    expect((await explain({ count: 'sessions', query: { is_active: 'yes' } })).chatboxCountPushdown).toBe(
      false,
    );
  });
});

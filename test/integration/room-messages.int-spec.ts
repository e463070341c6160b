import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { ROOM_CIPHER, RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { messageFrame } from '../../src/modules/rooms/room-frames';
import { RoomMessage, RoomMessageSchema } from '../../src/modules/rooms/schemas/room-message.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

// The per-room seq of RoomMessagesRepository against the real store, from two "instances" (two
// Nest modules, two connection pools): whatever the number of writers, their split and the resends,
// the room holds 1..n once each, and a resend gets the stored copy.
describe('room message seq against FerretDB (property)', () => {
  jest.setTimeout(120_000);
  const modules: TestingModule[] = [];
  let repositories: RoomMessagesRepository[];

  beforeAll(async () => {
    const settings = testSettings();
    for (let index = 0; index < 2; index++) {
      const module = await Test.createTestingModule({
        imports: [
          ...databaseModules(settings),
          MongooseModule.forFeature([{ name: RoomMessage.name, schema: RoomMessageSchema }]),
        ],
        providers: [
          RoomMessagesRepository,
          { provide: ROOM_CIPHER, useValue: new ContentCipher(settings.encryption.key) },
        ],
      }).compile();
      await module.init();
      modules.push(module);
    }
    repositories = modules.map((module) => module.get(RoomMessagesRepository));
  });
  afterAll(async () => {
    for (const module of modules) await module.close();
  });
  // one room's unread window, through the list's path (RoomMessagesRepository.unreadOf)
  const unreadAfter = async (roomId: string, mark: number, window: number, stored?: number) =>
    (await repositories[0].unreadOf([{ roomId, after: mark, stored }], ['me'], window)).get(roomId);

  it('should number concurrent appends from two instances 1..n, storing each client_id once', async () => {
    await fc.assert(
      fc.asyncProperty(
        // per writer: which instance, and its client_id (a small pool, so resends happen)
        fc.array(
          fc.record({ instance: fc.integer({ min: 0, max: 1 }), key: fc.integer({ min: 0, max: 12 }) }),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        async (writers) => {
          const roomId = `room-${randomBytes(6).toString('hex')}`;
          const results = await Promise.all(
            writers.map(({ instance, key }) =>
              repositories[instance].append({
                room_id: roomId,
                sender_id: 'u',
                kind: 'text',
                client_id: `c${key}`,
                content: `text ${key}`,
              }),
            ),
          );
          const distinct = new Set(writers.map((writer) => writer.key)).size;
          const stored = await repositories[0].after(roomId, 0, 1000);
          expect(stored.map((message) => message.seq)).toEqual(
            Array.from({ length: distinct }, (_, index) => index + 1),
          );
          expect(new Set(stored.map((message) => message.client_id)).size).toBe(distinct);
          // every resend got the one stored copy's id and seq
          for (const [index, result] of results.entries()) {
            const copy = stored.find((message) => message.client_id === `c${writers[index].key}`);
            expect(result.message).toMatchObject({
              id: copy?.id,
              seq: copy?.seq,
              content: `text ${writers[index].key}`,
            });
          }
          expect(results.filter((result) => !result.duplicate)).toHaveLength(distinct);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('should store content encrypted and keep an edit history, the later arrival standing; a soft delete removes the text', async () => {
    const roomId = `room-${randomBytes(6).toString('hex')}`;
    const { message } = await repositories[0].append({
      room_id: roomId,
      sender_id: 'u',
      kind: 'text',
      content: 'secret',
    });
    const model = modules[0].get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    const stored = await model.findOne({ _id: message.id }).lean<RoomMessage>();
    expect(stored?.content).toEqual(expect.any(String));
    expect(stored?.content).not.toContain('secret');
    const arrived = new Date();
    expect(await repositories[1].edit(roomId, message.id, 'public', arrived)).toBe('edited');
    expect((await repositories[0].find(roomId, message.id))?.content).toBe('public');
    // an edit that arrived before the stored one changes nothing
    expect(await repositories[0].edit(roomId, message.id, 'late', new Date(arrived.getTime() - 1000))).toBe(
      'superseded',
    );
    expect((await repositories[0].find(roomId, message.id))?.content).toBe('public');
    // a copy of an applied edit (its client_id again), however late it reached the server, too
    const later = new Date(arrived.getTime() + 1000);
    expect(await repositories[1].edit(roomId, message.id, 'public', later, 'e1')).toBe('edited');
    expect(await repositories[1].edit(roomId, message.id, 'newer', new Date(later.getTime() + 1), 'e2')).toBe(
      'edited',
    );
    expect(
      await repositories[0].edit(roomId, message.id, 'public', new Date(later.getTime() + 2), 'e1'),
    ).toBe('superseded');
    expect((await repositories[0].find(roomId, message.id))?.content).toBe('newer');
    const edited = await model.findOne({ _id: message.id }).lean<RoomMessage>();
    expect(edited?.edits).toHaveLength(3);
    expect(edited?.edit_client_ids).toEqual(['e1', 'e2']);
    expect(edited?.edits?.[0].content).toBe(stored?.content);
    expect(await repositories[0].softDelete(roomId, message.id, 'mod', 'd1')).toBe('deleted');
    // a copy of that delete (same user and client_id) is told apart from any other delete of it
    expect(await repositories[1].softDelete(roomId, message.id, 'mod', 'd1')).toBe('repeat');
    expect(await repositories[1].softDelete(roomId, message.id, 'mod', 'd2')).toBe('gone');
    expect(await repositories[1].softDelete(roomId, message.id, 'other', 'd1')).toBe('gone');
    expect(await repositories[1].softDelete(roomId, message.id, 'mod')).toBe('gone');
    const deleted = await repositories[1].find(roomId, message.id);
    expect(deleted).toMatchObject({ seq: 1, sender_id: 'u' });
    expect(deleted?.content).toBeUndefined();
    expect(deleted?.deleted_at).toBeInstanceOf(Date);
    expect(await repositories[0].edit(roomId, message.id, 'again', new Date())).toBe('gone');
  });

  // thirty messages into a room, alternating between the two instances' repositories; `pick` says
  // who sends the index-th and of what kind
  type Written = { seq: number; sender_id: string; kind: 'text' | 'system' };
  async function writeThirty(
    roomId: string,
    pick: (index: number) => Omit<Written, 'seq'>,
  ): Promise<Written[]> {
    const written: Written[] = [];
    for (let index = 0; index < 30; index++) {
      const { sender_id, kind } = pick(index);
      const { message } = await repositories[index % 2].append({
        room_id: roomId,
        sender_id,
        kind,
        content: 'x',
      });
      written.push({ seq: message.seq, sender_id, kind });
    }
    return written;
  }

  // Unread counts read a bounded window after the mark (one index range, however far behind the
  // reader is): exact within it, `more` when messages follow it.
  // docs/protocol.md, "Change log": a message's change numbers grow with its writes (its lock); an
  // edit outside the lock that took a lower number than one written meanwhile does not land over it
  it('should write an edit only over a lower change number', async () => {
    const roomId = `room-${randomBytes(4).toString('hex')}`;
    const { message } = await repositories[0].append({
      room_id: roomId,
      sender_id: 'ann',
      kind: 'text',
      content: 'first',
    });
    const at = Date.now();
    expect(await repositories[0].edit(roomId, message.id, 'ten', new Date(at), 'e1', async () => 10)).toBe(
      'edited',
    );
    expect(
      await repositories[1].edit(roomId, message.id, 'five', new Date(at + 1), 'e2', async () => 5),
    ).toBe('superseded');
    expect(await repositories[0].find(roomId, message.id)).toMatchObject({ content: 'ten', change: 10 });
    expect(
      await repositories[1].edit(roomId, message.id, 'eleven', new Date(at + 2), 'e3', async () => 11),
    ).toBe('edited');
    expect(await repositories[0].find(roomId, message.id)).toMatchObject({ content: 'eleven', change: 11 });
  });

  it("should count others' text messages in the window after a read mark, and say when more follow", async () => {
    const roomId = `room-${randomBytes(6).toString('hex')}`;
    const written = await writeThirty(roomId, (index) => ({
      sender_id: index % 3 === 0 ? 'me' : `other-${index % 4}`,
      kind: index % 5 === 4 ? 'system' : 'text',
    }));
    const model = modules[0].get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    const looks = jest.spyOn(model, 'findOne');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 1, max: 35 }),
        // a seq stored in the room, as the room's last_seq holds one (it may lag behind the head)
        fc.option(fc.integer({ min: 0, max: written.length }), { nil: undefined }),
        async (mark, window, stored) => {
          const after = written.filter((message) => message.seq > mark);
          const expected = {
            count: after
              .slice(0, window)
              .filter((message) => message.kind === 'text' && message.sender_id !== 'me').length,
            more: after.length > window,
          };
          looks.mockClear();
          expect(await unreadAfter(roomId, mark, window, stored)).toEqual(expected);
          // a stored seq past the window answers `more`: one count, no look past the window
          if (stored !== undefined && stored > mark + window && expected.count > 0)
            expect(looks).not.toHaveBeenCalled();
        },
      ),
      { numRuns: 60 },
    );
    looks.mockRestore();
    // retention removed the oldest: the window starts at the first message still kept (with or
    // without a stored seq past the window)
    await model.deleteMany({ room_id: roomId, seq: { $lte: 12 } });
    const kept = written.filter((message) => message.seq > 12);
    for (const stored of [undefined, 20, 30])
      expect(await unreadAfter(roomId, 3, 10, stored)).toEqual({
        count: kept.slice(0, 10).filter((message) => message.kind === 'text' && message.sender_id !== 'me')
          .length,
        more: true,
      });
    expect(await unreadAfter(roomId, 30, 10)).toEqual({ count: 0, more: false });
    expect(await unreadAfter(roomId, 30, 10, 30)).toEqual({ count: 0, more: false });
  });

  // A room list counts every room's window at once: one aggregate, and one more beside it for the
  // rooms whose stored seq (last_seq) does not lie past their window; a room is looked at alone only
  // when its window holds nothing to count with a stored seq past it (own or system messages only, or
  // emptied by retention). The expected values are the one-room semantics written out (the window after
  // the mark; when it holds nothing to count and more follow, the window after the first kept message).
  it('should count the windows of many rooms in one or two store commands, as one room at a time', async () => {
    const model = modules[0].get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    const tag = randomBytes(6).toString('hex');
    // others' messages; only mine and system ones; a removed prefix (retention); none at all
    const shapes = ['mixed', 'mine', 'retained', 'empty'] as const;
    const kept = new Map<string, Written[]>();
    for (const shape of shapes) {
      const roomId = `room-${shape}-${tag}`;
      const written =
        shape === 'empty'
          ? []
          : await writeThirty(roomId, (index) => {
              const mine = shape === 'mine' ? index % 2 === 0 : index % 3 === 0;
              return {
                sender_id: mine ? 'me' : `other-${index % 4}`,
                kind: shape === 'mine' && !mine ? 'system' : index % 5 === 4 ? 'system' : 'text',
              };
            });
      if (shape === 'retained') await model.deleteMany({ room_id: roomId, seq: { $lte: 12 } });
      kept.set(roomId, shape === 'retained' ? written.filter((message) => message.seq > 12) : written);
    }
    const expectedOf = (messages: Written[], mark: number, window: number) => {
      const windowAfter = (after: number) => ({
        count: messages.filter(
          (message) =>
            message.seq > after &&
            message.seq <= after + window &&
            message.kind === 'text' &&
            message.sender_id !== 'me',
        ).length,
        more: messages.some((message) => message.seq > after + window),
      });
      const counted = windowAfter(mark);
      if (counted.count > 0 || !counted.more) return counted;
      const first = messages.find((message) => message.seq > mark);
      if (!first || first.seq === mark + 1) return counted;
      return windowAfter(first.seq - 1);
    };
    const aggregates = jest.spyOn(model.collection, 'aggregate');
    const looks = jest.spyOn(model, 'findOne');
    const counts = jest.spyOn(model.db.db!, 'command');
    const storeCommands = () =>
      aggregates.mock.calls.length + looks.mock.calls.length + counts.mock.calls.length;
    const clear = () => [aggregates, looks, counts].forEach((spy) => spy.mockClear());
    const roomIds = [...kept.keys()];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 35 }),
        fc.tuple(
          ...roomIds.map(() =>
            fc.record({
              mark: fc.integer({ min: 0, max: 32 }),
              // the room's last_seq: a seq stored there (a room without messages holds 0)
              stored: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
            }),
          ),
        ),
        async (window, drawn) => {
          const windows = roomIds.map((roomId, index) => ({
            roomId,
            after: drawn[index].mark,
            stored: kept.get(roomId)!.length === 0 ? 0 : drawn[index].stored,
          }));
          clear();
          const unread = await repositories[0].unreadOf(windows, ['me'], window);
          let alone = 0;
          for (const { roomId, after, stored } of windows) {
            const expected = expectedOf(kept.get(roomId)!, after, window);
            expect([roomId, unread.get(roomId)]).toEqual([roomId, expected]);
            // others' text in the window after the mark itself
            const counted = kept
              .get(roomId)!
              .filter(
                (message) =>
                  message.seq > after &&
                  message.seq <= after + window &&
                  message.kind === 'text' &&
                  message.sender_id !== 'me',
              ).length;
            const past = stored !== undefined && stored > after + window;
            if (stored === undefined || (past && counted === 0) || (!past && counted === 0 && expected.more))
              alone++;
          }
          // one aggregate for every room's window, one for what follows the windows not behind
          // `stored`; for a room looked at alone up to four more (a look past its window, its first
          // kept message, a recount with its look)
          expect(storeCommands()).toBeLessThanOrEqual(2 + 4 * alone);
          if (alone === 0) expect(looks).not.toHaveBeenCalled();
        },
      ),
      { numRuns: 80 },
    );
    // bench:rooms' readers: no read mark, last_seq past every window: the whole list in one command
    clear();
    // (the retained room read up to the first kept message)
    const behind = [
      { roomId: `room-mixed-${tag}`, after: 0, stored: 30 },
      { roomId: `room-retained-${tag}`, after: 12, stored: 30 },
    ];
    expect(await repositories[0].unreadOf(behind, ['me'], 10)).toEqual(
      new Map(behind.map(({ roomId, after }) => [roomId, expectedOf(kept.get(roomId)!, after, 10)])),
    );
    expect(storeCommands()).toBe(1);
    // readers caught up with every room (their marks at the head, last_seq there too): two commands
    clear();
    const caughtUp = roomIds.map((roomId) => ({
      roomId,
      after: 30,
      stored: kept.get(roomId)!.length ? 30 : 0,
    }));
    expect(await repositories[0].unreadOf(caughtUp, ['me'], 10)).toEqual(
      new Map(roomIds.map((roomId) => [roomId, { count: 0, more: false }])),
    );
    expect(storeCommands()).toBe(2);
    aggregates.mockRestore();
    looks.mockRestore();
    counts.mockRestore();
  });

  // The append goes to the driver directly (RoomMessagesRepository.append): what it stores is what
  // mongoose's create() stores for the same message, metadata included (mongoose's `minimize`:
  // undefined values and empty objects dropped), and the message it returns is sent as the one read back.
  it('should store through the driver exactly what mongoose create() stored (property)', async () => {
    const model = modules[0].get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    // FerretDB refuses arrays in arrays (as it would through mongoose): none are drawn. Empty objects
    // come from `object` with no keys, each a new one (mongoose keeps a second reference to one
    // object it dropped as empty; callers build their metadata afresh)
    const { value } = fc.letrec<{ value: unknown; item: unknown; object: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        tie('item'),
        fc.array(tie('item'), { maxLength: 3 }),
      ),
      item: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constant(undefined),
        fc.constant(null),
        fc.string({ maxLength: 6 }),
        fc.integer(),
        fc.boolean(),
        tie('object'),
      ),
      object: fc.dictionary(fc.stringMatching(/^[a-z_]{1,4}$/), tie('value'), { maxKeys: 3 }),
    }));
    const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          kind: fc.constantFrom('text' as const, 'system' as const),
          id: optional(fc.uuid()),
          client_id: optional(fc.string({ minLength: 1, maxLength: 8 })),
          content: optional(fc.string({ maxLength: 20 })),
          file_id: optional(fc.string({ minLength: 1, maxLength: 8 })),
          reply_to: optional(fc.string({ minLength: 1, maxLength: 8 })),
          metadata: optional(fc.dictionary(fc.stringMatching(/^[a-z_]{1,4}$/), value, { maxKeys: 4 })),
        }),
        async (input) => {
          const roomId = `room-${randomBytes(6).toString('hex')}`;
          const { message, duplicate } = await repositories[0].append({
            ...input,
            room_id: roomId,
            sender_id: 'u',
          });
          expect(duplicate).toBe(false);
          const stored = await model.collection.findOne({ _id: message.id as never });
          expect(stored).not.toBeNull();
          // the same document through mongoose (under other keys), read back raw
          const twin = {
            ...stored,
            _id: `${message.id}-m`,
            room_id: `${roomId}-m`,
            dedup_key: `${String(stored?.dedup_key)}-m`,
            metadata: input.metadata,
          };
          await model.create(twin);
          const viaMongoose = await model.collection.findOne({ _id: twin._id as never });
          expect({ ...viaMongoose, _id: message.id, room_id: roomId, dedup_key: stored?.dedup_key }).toEqual(
            stored,
          );
          // what the room's sockets are sent of it (JSON: an undefined in an array is sent as null)
          const found = await repositories[1].find(roomId, message.id);
          expect(found).not.toBeNull();
          expect(JSON.parse(JSON.stringify(messageFrame(message)))).toEqual(
            JSON.parse(JSON.stringify(messageFrame(found!))),
          );
          expect(message.content).toBe(input.content);
        },
      ),
      { numRuns: 60 },
    );
  });

  // RoomsService.withActivity's read: each room's newest message time from a seq handed out up, on the
  // other instance (which knows no head of these rooms), whatever the floor and gaps retention left
  it("should give each room's newest message time from any floor up, gaps from retention included", async () => {
    const model = modules[0].get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    const rooms = [0, 1, 2].map(() => `room-${randomBytes(6).toString('hex')}`);
    const times = new Map<string, Date>();
    for (const [index, roomId] of rooms.entries())
      for (let seq = 1; seq <= 6 + index; seq++) {
        const { message } = await repositories[0].append(
          { room_id: roomId, sender_id: 'u', kind: 'text', content: `m${seq}` },
          0,
          new Date(Date.UTC(2026, 0, 1, 0, index, seq)),
        );
        times.set(roomId, message.created_at);
      }
    const newest = (floors: number[]) =>
      repositories[1].newestTimes(rooms.map((roomId, index) => ({ roomId, floor: floors[index] })));
    for (const floors of [
      [0, 0, 0],
      [1, 3, 8],
      [6, 7, 8],
    ])
      expect(await newest(floors)).toEqual(new Map(rooms.map((roomId) => [roomId, times.get(roomId)])));
    // retention took messages past a floor (a gap the count reads as a lower head): still the newest
    await model.deleteMany({ room_id: rooms[0], seq: { $in: [3, 4] } });
    expect((await newest([2, 1, 1])).get(rooms[0])).toEqual(times.get(rooms[0]));
    // nothing from the floor up: left out
    await model.deleteMany({ room_id: rooms[1] });
    expect((await newest([2, 1, 1])).has(rooms[1])).toBe(false);
  });
});

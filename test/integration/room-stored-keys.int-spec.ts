import { randomBytes } from 'node:crypto';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { BlocksRepository } from '../../src/modules/rooms/blocks.repository';
import { ReactionsRepository, reactionIdOf } from '../../src/modules/rooms/reactions.repository';
import { messageIdOf } from '../../src/modules/rooms/room-message-records';
import { ROOM_CIPHER, RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import {
  Block,
  BlockSchema,
  Reaction,
  ReactionSchema,
} from '../../src/modules/rooms/schemas/room-extras.schema';
import { RoomMessage, RoomMessageSchema } from '../../src/modules/rooms/schemas/room-message.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

const hex = () => randomBytes(4).toString('hex');

// Documents stored before composed keys were escaped (or by the other version in a rolling deploy)
// under the plain join, against the real store: a user whose id holds `|` still finds their own
// (a resend, a reaction taken back, a block), and a plain key that is another tuple's escaped key
// is never taken for that tuple's document.
describe('room documents stored under plain keys (FerretDB)', () => {
  jest.setTimeout(60_000);
  let module: TestingModule;
  let messages: RoomMessagesRepository;
  let reactions: ReactionsRepository;
  let blocks: BlocksRepository;

  beforeAll(async () => {
    const settings = testSettings();
    module = await Test.createTestingModule({
      imports: [
        ...databaseModules(settings),
        MongooseModule.forFeature([
          { name: RoomMessage.name, schema: RoomMessageSchema },
          { name: Reaction.name, schema: ReactionSchema },
          { name: Block.name, schema: BlockSchema },
        ]),
      ],
      providers: [
        RoomMessagesRepository,
        ReactionsRepository,
        BlocksRepository,
        { provide: ROOM_CIPHER, useValue: new ContentCipher(settings.encryption.key) },
      ],
    }).compile();
    await module.init();
    messages = module.get(RoomMessagesRepository);
    reactions = module.get(ReactionsRepository);
    blocks = module.get(BlocksRepository);
  });
  afterAll(() => module.close());

  it("should give a resend the message stored under the plain key, and nobody else's message", async () => {
    const roomId = `room-${hex()}`;
    const piped = `u-${hex()}|x`;
    // as the version before stored it: `_id` and dedup_key from `room|u|x|1`
    const plain = `${roomId}|${piped}|1`;
    const old = await messages.append({
      id: messageIdOf(plain),
      room_id: roomId,
      sender_id: piped,
      kind: 'text',
      client_id: '1',
      content: 'before',
    });
    await module
      .get<Model<RoomMessage>>(getModelToken(RoomMessage.name))
      .updateOne({ _id: old.message.id }, { $set: { dedup_key: plain } });
    const resent = await messages.append({
      room_id: roomId,
      sender_id: piped,
      kind: 'text',
      client_id: '1',
      content: 'before',
    });
    expect(resent).toMatchObject({ duplicate: true, message: { id: old.message.id, content: 'before' } });
    // "u" with client_id "x|1": its escaped key is that plain key; refused, not acked as the other's
    await expect(
      messages.append({
        room_id: roomId,
        sender_id: piped.slice(0, -2),
        kind: 'text',
        client_id: 'x|1',
        content: 'mine',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    // and with another client_id it is stored
    const other = await messages.append({
      room_id: roomId,
      sender_id: piped.slice(0, -2),
      kind: 'text',
      client_id: 'x|2',
      content: 'mine',
    });
    expect(other.duplicate).toBe(false);
    expect((await messages.after(roomId, 0, 10)).map((message) => message.content)).toEqual([
      'before',
      'mine',
    ]);
  });

  it('should take back a reaction stored under the plain id in place, and never write over another reaction', async () => {
    const key = {
      room_id: `r-${hex()}`,
      message_id: `m-${hex()}`,
      user_id: `u-${hex()}|x`,
      emoji: '👍',
      message_at: new Date(),
    };
    const plain = `${key.message_id}|${key.user_id}|${key.emoji}`;
    expect(reactionIdOf(key)).not.toBe(plain);
    const model = module.get<Model<Reaction>>(getModelToken(Reaction.name));
    const at = Date.now();
    await model.create({ _id: plain, ...key, removed: false, at: new Date(at), client_ids: [] });
    const id = await reactions.idOf(key);
    expect(id).toBe(plain);
    expect(await reactions.set(key, false, new Date(at + 1), 'c1', undefined, id)).toBe(true);
    expect((await reactions.stateOf([key.message_id])).byMessage.get(key.message_id)).toBeUndefined();
    expect(await model.countDocuments({ message_id: key.message_id })).toBe(1);
    // a plain id that is another reaction's escaped one: (user\, `x|👍`, stored before reactions had
    // to be one emoji) under `m|user\|x|👍`, which is the escaped id of (user|x, 👍)
    const user = `u-${hex()}`;
    const squatter = { ...key, user_id: `${user}\\`, emoji: 'x|👍' };
    const squatted = `${key.message_id}|${user}\\|x|👍`;
    await model.create({ _id: squatted, ...squatter, removed: false, at: new Date(at), client_ids: [] });
    const taken = { ...key, user_id: `${user}|x` };
    expect(reactionIdOf(taken)).toBe(squatted);
    expect(await reactions.idOf(taken)).toBe(squatted);
    await expect(reactions.set(taken, true, new Date(at + 2))).rejects.toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    const summary = (await reactions.stateOf([key.message_id])).byMessage.get(key.message_id);
    expect(Object.entries(summary ?? {})).toEqual([['x|👍', [squatter.user_id]]]);
  });

  it('should find, list once and lift a block stored under the plain id, and never count another pair', async () => {
    const blocker = `a-${hex()}|b`;
    const model = module.get<Model<Block>>(getModelToken(Block.name));
    await model.create({ _id: `${blocker}|c`, blocker_id: blocker, blocked_id: 'c', at: new Date() });
    expect(await blocks.isBlocked(blocker, 'c')).toBe(true);
    // "a-…" and "b|c" made the same plain id
    expect(await blocks.isBlocked(blocker.slice(0, -2), 'b|c')).toBe(false);
    await blocks.block(blocker, 'c');
    expect(await model.countDocuments({ blocker_id: blocker })).toBe(1);
    await blocks.block(blocker.slice(0, -2), 'b|c');
    expect(await blocks.isBlocked(blocker.slice(0, -2), 'b|c')).toBe(true);
    expect(await blocks.blockedBy(blocker)).toEqual(['c']);
    await blocks.unblock(blocker.slice(0, -2), 'b|c');
    expect(await blocks.isBlocked(blocker, 'c')).toBe(true);
    await blocks.unblock(blocker, 'c');
    expect(await blocks.isBlocked(blocker, 'c')).toBe(false);
    expect(await model.countDocuments({ blocker_id: blocker })).toBe(0);
  });
});

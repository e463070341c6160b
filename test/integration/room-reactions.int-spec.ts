import { randomBytes } from 'node:crypto';
import { MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import { ReactionsRepository, reactionIdOf } from '../../src/modules/rooms/reactions.repository';
import { Reaction, ReactionSchema } from '../../src/modules/rooms/schemas/room-extras.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

// A reaction's change number (docs/protocol.md, "Change log") against the real store: a reaction's
// numbers grow with its writes, which its lock gives; a write outside the lock (the lock's gap after a
// Redis restart) that took a lower number than one written meanwhile does not land over it, so the
// number a device keeps per reaction always names the state the store holds.
describe('room reactions against FerretDB', () => {
  jest.setTimeout(60_000);
  let module: TestingModule;
  let reactions: ReactionsRepository;

  beforeAll(async () => {
    module = await Test.createTestingModule({
      imports: [
        ...databaseModules(testSettings()),
        MongooseModule.forFeature([{ name: Reaction.name, schema: ReactionSchema }]),
      ],
      providers: [ReactionsRepository],
    }).compile();
    await module.init();
    reactions = module.get(ReactionsRepository);
  });
  afterAll(() => module.close());

  it('should write a reaction change only over a lower change number', async () => {
    const key = {
      room_id: `r-${randomBytes(4).toString('hex')}`,
      message_id: `m-${randomBytes(4).toString('hex')}`,
      user_id: 'ann',
      emoji: '👍',
      message_at: new Date(),
    };
    const at = Date.now();
    expect(await reactions.set(key, true, new Date(at), 'c1', async () => 10)).toBe(true);
    // arrived later, but its number was taken before 10 was written (outside the lock): refused
    expect(await reactions.set(key, false, new Date(at + 1), 'c2', async () => 5)).toBe(false);
    let state = await reactions.stateOf([key.message_id]);
    expect(state.byMessage.get(key.message_id)).toEqual({ '👍': ['ann'] });
    expect(state.changes.get(reactionIdOf(key))).toBe(10);
    // a later number lands
    expect(await reactions.set(key, false, new Date(at + 2), 'c3', async () => 11)).toBe(true);
    state = await reactions.stateOf([key.message_id]);
    expect(state.byMessage.get(key.message_id)).toBeUndefined();
    expect(state.changes.get(reactionIdOf(key))).toBe(11);
    // a reaction written before numbers (none on it) takes one
    const older = { ...key, emoji: '🎉' };
    expect(await reactions.set(older, true, new Date(at))).toBe(true);
    expect(await reactions.set(older, false, new Date(at + 1), 'c4', async () => 12)).toBe(true);
  });
});

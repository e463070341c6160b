import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { type Settings } from '../../src/config/settings';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import type { SessionRecord } from '../../src/modules/sessions/session.types';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

// What the LLM flow keeps on a session, against FerretDB: vendor state per model, model-made titles,
// voice transcripts encrypted like typed text, and reply statistics.
describe('LLM state on sessions against FerretDB', () => {
  let module: TestingModule;
  let service: SessionsService;
  let model: Model<Session>;
  let settings: Settings;

  beforeAll(async () => {
    settings = testSettings();
    module = await Test.createTestingModule({
      imports: [...databaseModules(settings), SessionsModule],
    }).compile();
    await module.init();
    service = module.get(SessionsService);
    model = module.get(getModelToken(Session.name));
  });
  afterAll(() => module.close());

  it('should keep vendor state per model and only for the session owner', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'dify');
    await service.setProviderState(session.id, user, 'dify', { conversation_id: 'c-1' });
    await service.setProviderState(session.id, user, 'dify-2', { conversation_id: 'c-2' });
    await service.setProviderState(session.id, user, 'dify', { conversation_id: 'c-3' });
    await service.setProviderState(session.id, uniqueUser(), 'dify', { conversation_id: 'stolen' });
    const stored = (await service.getOwned(session.id, user)) as SessionRecord;
    expect(service.providerState(stored, 'dify')).toEqual({ conversation_id: 'c-3' });
    expect(service.providerState(stored, 'dify-2')).toEqual({ conversation_id: 'c-2' });
    expect(Object.keys(stored.provider_state)).toHaveLength(2);
    // a model id with dots or dollars is a plain key, not a path or an operator
    await service.setProviderState(session.id, user, 'gpt-4.1$x%', { conversation_id: 'c-4' });
    const again = (await service.getOwned(session.id, user)) as SessionRecord;
    expect(service.providerState(again, 'gpt-4.1$x%')).toEqual({ conversation_id: 'c-4' });
    expect(service.providerState(again, 'dify')).toEqual({ conversation_id: 'c-3' });
  });

  it('should lose none of a title, a model switch, vendor state and a message written at once', async () => {
    // FerretDB 1.24 applies concurrent updates of one document as read-modify-write: unqueued,
    // all but one of these would be lost
    for (let round = 0; round < 5; round++) {
      const user = uniqueUser();
      const { session } = await service.open(user, undefined, 'claude');
      await Promise.all([
        service.retitle(session.id, user, 'A title'),
        service.setModel(session.id, 'gpt'),
        service.setProviderState(session.id, user, 'dify', { conversation_id: 'c' }),
        service.append(session.id, {
          type: 'user_message',
          sender: 'user',
          content: 'hi',
        }),
      ]);
      const stored = (await service.getOwned(session.id, user)) as SessionRecord;
      expect(stored).toMatchObject({ name: 'A title', model_id: 'gpt', seq: 1 });
      expect(service.providerState(stored, 'dify')).toEqual({ conversation_id: 'c' });
      expect(await service.messagesAfter(session.id, user, 0)).toHaveLength(1);
    }
  });

  it('should rename a session with a model-made title', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'gpt');
    await expect(service.retitle(session.id, user, 'Trip to Zürich')).resolves.toBe(true);
    expect((await service.getOwned(session.id, user))?.name).toBe('Trip to Zürich');
  });

  it('should leave the name its owner gave, also when given while the title was asked for', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'gpt');
    await Promise.all([
      service.updateOwned(session.id, user, { name: 'My trip' }),
      service.retitle(session.id, user, 'Trip to Zürich'),
    ]);
    await expect(service.retitle(session.id, user, 'Trip to Zürich')).resolves.toBe(false);
    const stored = await service.getOwned(session.id, user);
    expect(stored).toMatchObject({ name: 'My trip', named_by_user: true });
    // nor another user's session, nor one that is gone
    await expect(service.retitle(session.id, uniqueUser(), 'Other')).resolves.toBe(false);
    await expect(service.retitle('no-such-session', user, 'Other')).resolves.toBe(false);
  });

  it('should store a voice transcript encrypted and count reply usage and times on the session', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'gpt');
    await service.append(session.id, {
      type: 'voice_message',
      sender: 'user',
      content: 'secret transcript',
      file_id: 'f-1',
      metadata: { file: { name: 'voice.wav', size: 10, mime_type: 'audio/wav' } },
    });
    for (const [ms, tokens] of [
      [100, 10],
      [300, 20],
    ])
      await service.append(
        session.id,
        { type: 'ai_response', sender: 'ai', content: 'answer', model_id: 'gpt' },
        {
          usage: { prompt_tokens: tokens, completion_tokens: 1, total_tokens: tokens + 1 },
          response_ms: ms,
          countsAsMessage: true,
        },
      );
    const raw = await model.findById(session.id).lean();
    expect(JSON.stringify(raw?.messages)).not.toContain('secret transcript');
    const [voice] = await service.messagesAfter(session.id, user, 0);
    expect(voice).toMatchObject({ type: 'voice_message', content: 'secret transcript', file_id: 'f-1' });
    const stats = await service.getOwned(session.id, user);
    expect(stats).toMatchObject({
      total_tokens: 32,
      prompt_tokens: 30,
      avg_response_ms: 200,
      max_response_ms: 300,
    });
  });
});

import { type DifyFake, startDifyFake } from '../../../test/fakes/dify-fake';
import type { LlmModelSettings } from '../../config/llm.settings';
import { LlmProviderError } from './llm-provider';
import { DifyProvider } from './dify.provider';

// A purged session's conversation at Dify (docs/protocol.md, "Session library"): deleted with the
// session's user, gone when Dify has it no more, and a failure the purge can tell apart: one worth
// another sweep (retryable) or one that will not heal (a refused key).
describe(`${DifyProvider.name} forget`, () => {
  const KEY = 'app-secret-key-123';
  let fake: DifyFake;

  beforeAll(async () => {
    fake = await startDifyFake();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.script = {};
  });

  const provider = (overrides: Partial<LlmModelSettings> = {}) =>
    new DifyProvider({
      id: 'dify',
      name: 'Dify',
      type: 'dify',
      endpoint: fake.url,
      api_key: KEY,
      ...overrides,
    });

  // a conversation the fake keeps for `user`, as a chat message to Dify makes one
  const conversationOf = async (user: string): Promise<string> => {
    const response = await fetch(`${fake.url}/chat-messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: {}, query: 'hi', response_mode: 'blocking', conversation_id: '', user }),
    });
    return ((await response.json()) as { conversation_id: string }).conversation_id;
  };

  const failure = async (promise: Promise<unknown>): Promise<LlmProviderError> => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(LlmProviderError);
    expect(JSON.stringify(error) + String(error)).not.toContain(KEY);
    return error as LlmProviderError;
  };

  it('should delete the conversation as its user, with the key, when Dify answers 204 or 200', async () => {
    const first = await conversationOf('user-1');
    const second = await conversationOf('user-1');
    await provider().forget({ conversation_id: first }, 'user-1');
    fake.script = { deleteStatus: 200 };
    await provider().forget({ conversation_id: second }, 'user-1');
    expect(fake.conversationDeletes).toEqual([
      { conversationId: first, user: 'user-1', authorization: `Bearer ${KEY}`, deleted: true },
      { conversationId: second, user: 'user-1', authorization: `Bearer ${KEY}`, deleted: true },
    ]);
    const deletes = fake.requests.filter((request) => request.method === 'DELETE');
    expect(deletes.map((request) => request.headers['content-type'])).toEqual([
      'application/json',
      'application/json',
    ]);
  });

  it('should resolve when Dify has the conversation no more (404)', async () => {
    const conversationId = await conversationOf('user-2');
    await provider().forget({ conversation_id: conversationId }, 'user-2');
    await provider().forget({ conversation_id: conversationId }, 'user-2');
    expect(fake.conversationDeletes.map((request) => request.deleted)).toEqual([true, false]);
  });

  it('should ask nothing when the state names no conversation', async () => {
    await provider().forget({}, 'user-3');
    await provider().forget({ conversation_id: '' }, 'user-3');
    await provider().forget({ conversation_id: 42 }, 'user-3');
    expect(fake.requests).toHaveLength(0);
  });

  it('should fail retryably, without the key, when Dify errs or is rate limited, and keep the conversation', async () => {
    const conversationId = await conversationOf('user-4');
    for (const status of [500, 503, 429]) {
      fake.enqueue({ status });
      const error = await failure(provider().forget({ conversation_id: conversationId }, 'user-4'));
      expect(error).toMatchObject({ retryable: true, message: `dify conversation delete: HTTP ${status}` });
    }
    expect(fake.conversations.has(conversationId)).toBe(true);
  });

  it('should fail not retryably when Dify refuses the key (401, 403): another try will not heal it', async () => {
    for (const status of [401, 403]) {
      fake.enqueue({ status });
      const error = await failure(provider().forget({ conversation_id: 'c-1' }, 'user-5'));
      expect(error).toMatchObject({ retryable: false, message: `dify conversation delete: HTTP ${status}` });
    }
  });

  it('should fail retryably when Dify cannot be reached or does not answer in time', async () => {
    const closed = await startDifyFake();
    const endpoint = closed.url;
    await closed.close();
    const unreachable = await failure(provider({ endpoint }).forget({ conversation_id: 'c-1' }, 'user-6'));
    expect(unreachable).toMatchObject({
      retryable: true,
      message: 'dify conversation delete: connection failed',
    });
    fake.enqueue({ hang: true });
    const slow = await failure(provider({ timeout_ms: 100 }).forget({ conversation_id: 'c-1' }, 'user-6'));
    expect(slow).toMatchObject({ retryable: true, message: 'dify conversation delete: timeout' });
    await fake.waitForAbort();
  });
});

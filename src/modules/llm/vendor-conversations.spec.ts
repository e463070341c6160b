import { Logger } from '@nestjs/common';
import { type LlmProvider, LlmProviderError } from '../../infra/llm/llm-provider';
import type { LlmRegistry } from './llm.registry';
import { VendorConversations } from './vendor-conversations';

describe(VendorConversations.name, () => {
  let warned: jest.SpyInstance;
  let errors: jest.SpyInstance;
  beforeEach(() => {
    warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  const provider = (forget?: LlmProvider['forget']): LlmProvider => ({
    modelId: 'm',
    vendor: forget ? 'dify' : 'openai',
    stream: () => (async function* () {})(),
    ...(forget ? { forget } : {}),
  });
  // a registry of these configured models
  const registry = (models: Record<string, LlmProvider>) =>
    ({
      has: (modelId: string) => modelId in models,
      get: (modelId: string) => models[modelId],
    }) as unknown as LlmRegistry;
  const session = (states: Record<string, Record<string, unknown>>) => ({
    id: 's-1',
    userId: 'u-1',
    providerStates: new Map(Object.entries(states)),
  });
  const logged = (spy: jest.SpyInstance) => JSON.stringify(spy.mock.calls);

  it("should have each model's vendor forget its conversation, as the session's user", async () => {
    const first = jest.fn(() => Promise.resolve());
    const second = jest.fn(() => Promise.resolve());
    const conversations = new VendorConversations(
      registry({ dify: provider(first), 'dify.2': provider(second) }),
    );
    await conversations.removeOf(
      session({ dify: { conversation_id: 'c-1' }, 'dify.2': { conversation_id: 'c-2' } }),
    );
    expect(first).toHaveBeenCalledWith({ conversation_id: 'c-1' }, 'u-1');
    expect(second).toHaveBeenCalledWith({ conversation_id: 'c-2' }, 'u-1');
    expect(warned).not.toHaveBeenCalled();
  });

  it('should go on, warning, when the model is configured no more or now names a vendor that keeps nothing', async () => {
    const kept = jest.fn(() => Promise.resolve());
    const conversations = new VendorConversations(registry({ dify: provider(kept), gpt: provider() }));
    await conversations.removeOf(
      session({
        gone: { conversation_id: 'c-1' },
        gpt: { conversation_id: 'c-2' },
        dify: { conversation_id: 'c-3' },
      }),
    );
    expect(kept).toHaveBeenCalledWith({ conversation_id: 'c-3' }, 'u-1');
    expect(warned).toHaveBeenCalledTimes(2);
    expect(logged(warned)).toContain('"model_id":"gone"');
    expect(logged(warned)).toContain('"model_id":"gpt"');
  });

  it('should go on, logging an error without the conversation, when the vendor refuses for good (a bad key)', async () => {
    const refused = jest.fn(() =>
      Promise.reject(new LlmProviderError('dify conversation delete: HTTP 401', false)),
    );
    const after = jest.fn(() => Promise.resolve());
    const conversations = new VendorConversations(registry({ a: provider(refused), b: provider(after) }));
    await conversations.removeOf(session({ a: { conversation_id: 'c-1' }, b: { conversation_id: 'c-2' } }));
    expect(after).toHaveBeenCalled();
    expect(errors).toHaveBeenCalledTimes(1);
    expect(logged(errors)).toContain('HTTP 401');
    expect(logged(errors)).not.toContain('c-1');
  });

  it('should throw, warning, when the vendor errs in a way another sweep may not meet', async () => {
    const outage = new LlmProviderError('dify conversation delete: HTTP 503', true);
    const unreachable = jest.fn(() => Promise.reject(outage));
    const unexpected = jest.fn(() => Promise.reject(new Error('socket hang up')));
    await expect(
      new VendorConversations(registry({ a: provider(unreachable) })).removeOf(
        session({ a: { conversation_id: 'c-1' } }),
      ),
    ).rejects.toBe(outage);
    await expect(
      new VendorConversations(registry({ a: provider(unexpected) })).removeOf(
        session({ a: { conversation_id: 'c-1' } }),
      ),
    ).rejects.toThrow('socket hang up');
    expect(warned).toHaveBeenCalledTimes(2);
    expect(errors).not.toHaveBeenCalled();
  });
});

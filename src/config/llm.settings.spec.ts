import fc from 'fast-check';
import { SettingsError } from './env-readers';
import { parseLlmModels } from './llm.settings';

function rejection(raw: unknown): SettingsError {
  try {
    parseLlmModels(JSON.stringify(raw));
  } catch (error) {
    if (error instanceof SettingsError) return error;
    throw error;
  }
  throw new Error('expected a SettingsError');
}

describe('parseLlmModels', () => {
  it('should read the per-model fields when they are given', () => {
    const [model] = parseLlmModels(
      JSON.stringify([
        {
          id: 'gpt',
          type: 'openai',
          model: 'gpt-4o-mini',
          endpoint: 'http://127.0.0.1:9/v1',
          api_key: 'sk-1',
          context_tokens: 8000,
          max_tokens: 500,
          retry_attempts: 4,
          retry_base_ms: 10,
          breaker_failures: 2,
          breaker_cooldown_ms: 100,
          titles: false,
          transcription_model: 'whisper-1',
          tts: { voice: 'nova', format: 'wav' },
          files: 'external',
          file_hosts: ['Files.Example:8080'],
          vision: true,
        },
      ]),
    );
    expect(model).toEqual({
      id: 'gpt',
      name: 'gpt',
      type: 'openai',
      model: 'gpt-4o-mini',
      endpoint: 'http://127.0.0.1:9/v1',
      api_key: 'sk-1',
      context_tokens: 8000,
      max_tokens: 500,
      retry_attempts: 4,
      retry_base_ms: 10,
      breaker_failures: 2,
      breaker_cooldown_ms: 100,
      titles: false,
      transcription_model: 'whisper-1',
      // an openai model speaks through its own endpoint and key unless told otherwise
      tts: {
        model: 'gpt-4o-mini-tts',
        voice: 'nova',
        format: 'wav',
        endpoint: 'http://127.0.0.1:9/v1',
        api_key: 'sk-1',
      },
      files: 'external',
      file_hosts: ['files.example:8080'],
      vision: true,
    });
  });

  it('should leave vision off unless a model says so, for every vendor', () => {
    const [plain, demo, claude, dify] = parseLlmModels(
      JSON.stringify([
        { id: 'gpt', type: 'openai', model: 'gpt-4o-mini' },
        { id: 'demo', type: 'demo', vision: true },
        { id: 'claude', type: 'anthropic', model: 'claude', api_key: 'k', vision: true },
        // Dify gets its images uploaded through its files API
        { id: 'dify', type: 'dify', api_key: 'k', vision: true },
      ]),
    );
    expect(plain.vision).toBeUndefined();
    expect(demo.vision).toBe(true);
    expect(claude.vision).toBe(true);
    expect(dify.vision).toBe(true);
    expect(parseLlmModels('[{"id":"d","type":"dify","api_key":"k","vision":false}]')[0].vision).toBe(false);
  });

  it('should leave documents off unless a model says so, and refuse them for Dify', () => {
    const [plain, demo, gpt, claude] = parseLlmModels(
      JSON.stringify([
        { id: 'vision', type: 'openai', model: 'gpt-4o-mini', vision: true },
        { id: 'demo', type: 'demo', documents: true },
        { id: 'gpt', type: 'openai', model: 'gpt-4o-mini', documents: true },
        { id: 'claude', type: 'anthropic', model: 'claude', api_key: 'k', documents: false },
      ]),
    );
    // vision does not bring PDFs along: an OpenAI-compatible server may read images and not files
    expect(plain.documents).toBeUndefined();
    expect(demo.documents).toBe(true);
    expect(gpt.documents).toBe(true);
    expect(claude.documents).toBe(false);
    expect(rejection([{ id: 'g', type: 'openai', model: 'm', documents: 'yes' }]).setting).toBe(
      'LLM_PROVIDERS[0].documents',
    );
    // Dify's app decides what it reads; a PDF goes to it as a note
    const dify = rejection([{ id: 'd', type: 'dify', api_key: 'k', documents: true }]);
    expect(dify.setting).toBe('LLM_PROVIDERS[0].documents');
    expect(dify.message).toContain('dify');
    expect(parseLlmModels('[{"id":"d","type":"dify","api_key":"k","documents":false}]')[0].documents).toBe(
      false,
    );
  });

  it('should require an api_key when the vendor cannot answer without one', () => {
    expect(rejection([{ id: 'c', type: 'anthropic', model: 'claude' }]).setting).toBe(
      'LLM_PROVIDERS[0].api_key',
    );
    expect(rejection([{ id: 'd', type: 'dify' }]).setting).toBe('LLM_PROVIDERS[0].api_key');
    expect(parseLlmModels('[{"id":"d","type":"dify","api_key":"app-1"}]')[0].model).toBeUndefined();
  });

  it('should require a speech endpoint when a non-openai model has tts', () => {
    expect(rejection([{ id: 'd', type: 'dify', api_key: 'k', tts: {} }]).setting).toBe(
      'LLM_PROVIDERS[0].tts.endpoint',
    );
  });

  it('should name the field when a value is out of range or of the wrong kind', () => {
    const base = { id: 'x', type: 'demo' };
    expect(rejection([{ ...base, temperature: 3 }]).setting).toBe('LLM_PROVIDERS[0].temperature');
    expect(rejection([{ ...base, retry_attempts: 0 }]).setting).toBe('LLM_PROVIDERS[0].retry_attempts');
    expect(rejection([{ ...base, max_tokens: 1.5 }]).setting).toBe('LLM_PROVIDERS[0].max_tokens');
    expect(rejection([{ ...base, titles: 'yes' }]).setting).toBe('LLM_PROVIDERS[0].titles');
    expect(rejection([{ ...base, vision: 'true' }]).setting).toBe('LLM_PROVIDERS[0].vision');
    expect(rejection([{ ...base, vision: 1 }]).setting).toBe('LLM_PROVIDERS[0].vision');
    expect(rejection([{ ...base, files: 'keep' }]).setting).toBe('LLM_PROVIDERS[0].files');
    expect(rejection([{ ...base, file_hosts: [''] }]).setting).toBe('LLM_PROVIDERS[0].file_hosts');
    expect(rejection([{ ...base, endpoint: 'ftp://x' }]).setting).toBe('LLM_PROVIDERS[0].endpoint');
    expect(rejection([{ ...base, tts: [] }]).setting).toBe('LLM_PROVIDERS[0].tts');
    expect(rejection([{ ...base, context_tokens: 100, max_tokens: 100 }]).setting).toBe(
      'LLM_PROVIDERS[0].max_tokens',
    );
  });

  it('should either return models or throw a SettingsError naming LLM_PROVIDERS when given any JSON', () => {
    const entry = fc.record(
      {
        id: fc.oneof(fc.string(), fc.integer()),
        type: fc.constantFrom('openai', 'anthropic', 'dify', 'demo', 'other'),
        model: fc.string(),
        api_key: fc.string(),
        endpoint: fc.oneof(fc.webUrl(), fc.string()),
        temperature: fc.oneof(fc.double(), fc.string()),
        max_tokens: fc.oneof(fc.integer(), fc.double()),
        context_tokens: fc.integer(),
        tts: fc.oneof(fc.constant({}), fc.anything()),
        files: fc.string(),
        file_hosts: fc.anything(),
        vision: fc.oneof(fc.boolean(), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.array(entry), fc.anything()), (raw) => {
        try {
          const models = parseLlmModels(JSON.stringify(raw) ?? 'null');
          expect(models.length).toBeGreaterThan(0);
          for (const [index, model] of models.entries()) {
            expect(typeof model.id).toBe('string');
            // vision is exactly what the entry said, whatever the vendor
            expect(model.vision).toBe((raw as { vision?: unknown }[])[index].vision);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(SettingsError);
          expect((error as SettingsError).setting.startsWith('LLM_PROVIDERS')).toBe(true);
        }
      }),
    );
  });
});

import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type LlmModelSettings, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { AnthropicProvider } from '../../infra/llm/anthropic.provider';
import { DemoProvider } from '../../infra/llm/demo.provider';
import { DifyProvider } from '../../infra/llm/dify.provider';
import type { LlmProvider } from '../../infra/llm/llm-provider';
import { DEFAULT_TIMEOUT_MS, OpenAiProvider } from '../../infra/llm/openai.provider';
import { warmTokenizer } from '../../infra/llm/tokens';
import { CircuitBreaker } from './circuit-breaker';
import type { RetryPolicy } from './resilient-stream';

export interface ModelInfo {
  id: string;
  name: string;
}

const DEFAULT_ATTEMPTS = 3;
const DEFAULT_RETRY_BASE_MS = 500;
const MAX_RETRY_DELAY_MS = 20_000;
const DEFAULT_BREAKER_FAILURES = 5;
const DEFAULT_BREAKER_COOLDOWN_MS = 30_000;

// One configured model: its provider, settings, retry policy and circuit breaker.
export interface ModelEntry {
  settings: LlmModelSettings;
  provider: LlmProvider;
  policy: RetryPolicy;
  breaker: CircuitBreaker;
}

// Builds one provider per configured model (LLM_PROVIDERS); the first model is the default.
@Injectable()
export class LlmRegistry implements OnModuleInit {
  private readonly entries = new Map<string, ModelEntry>();
  private readonly infos: ModelInfo[];

  constructor(@Inject(SETTINGS) settings: Settings) {
    for (const model of settings.llmModels) {
      this.entries.set(model.id, {
        settings: model,
        provider: createProvider(model),
        policy: {
          attempts: model.retry_attempts ?? DEFAULT_ATTEMPTS,
          baseMs: model.retry_base_ms ?? DEFAULT_RETRY_BASE_MS,
          maxDelayMs: MAX_RETRY_DELAY_MS,
          idleTimeoutMs: model.timeout_ms ?? DEFAULT_TIMEOUT_MS,
          replyTimeoutMs: settings.llmReplyTimeoutMs,
        },
        breaker: new CircuitBreaker(
          model.breaker_failures ?? DEFAULT_BREAKER_FAILURES,
          model.breaker_cooldown_ms ?? DEFAULT_BREAKER_COOLDOWN_MS,
        ),
      });
    }
    this.infos = settings.llmModels.map((model) => ({ id: model.id, name: model.name }));
  }

  onModuleInit(): void {
    // the tokenizer's tables take a moment to build: now, not during the first reply
    warmTokenizer();
  }

  get models(): ModelInfo[] {
    return this.infos;
  }

  get defaultModelId(): string {
    return this.infos[0].id;
  }

  has(modelId: string): boolean {
    return this.entries.has(modelId);
  }

  get(modelId: string): LlmProvider {
    return this.entry(modelId).provider;
  }

  entry(modelId: string): ModelEntry {
    const entry = this.entries.get(modelId);
    if (!entry) throw new DomainException(ErrorCode.UNKNOWN_MODEL);
    return entry;
  }
}

function createProvider(model: LlmModelSettings): LlmProvider {
  switch (model.type) {
    case 'demo':
      return new DemoProvider(model);
    case 'openai':
      return new OpenAiProvider(model);
    case 'anthropic':
      return new AnthropicProvider(model);
    case 'dify':
      return new DifyProvider(model);
  }
}

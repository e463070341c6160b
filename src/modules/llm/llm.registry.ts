import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type LlmModelSettings, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { DemoProvider } from '../../infra/llm/demo.provider';
import type { LlmProvider } from '../../infra/llm/llm-provider';
import { OpenAiProvider } from '../../infra/llm/openai.provider';

export interface ModelInfo {
  id: string;
  name: string;
}

// Builds one provider per configured model (LLM_PROVIDERS); the first model is the default.
@Injectable()
export class LlmRegistry {
  private readonly providers = new Map<string, LlmProvider>();
  private readonly infos: ModelInfo[];

  constructor(@Inject(SETTINGS) settings: Settings) {
    for (const model of settings.llmModels) this.providers.set(model.id, createProvider(model));
    this.infos = settings.llmModels.map((model) => ({ id: model.id, name: model.name }));
  }

  get models(): ModelInfo[] {
    return this.infos;
  }

  get defaultModelId(): string {
    return this.infos[0].id;
  }

  has(modelId: string): boolean {
    return this.providers.has(modelId);
  }

  get(modelId: string): LlmProvider {
    const provider = this.providers.get(modelId);
    if (!provider) throw new DomainException(ErrorCode.UNKNOWN_MODEL);
    return provider;
  }
}

function createProvider(model: LlmModelSettings): LlmProvider {
  switch (model.type) {
    case 'demo':
      return new DemoProvider(model);
    case 'openai':
      return new OpenAiProvider(model);
    case 'anthropic':
    case 'dify':
      // the LLM providers issue adds these; refuse at boot rather than fail on the first message
      throw new Error(
        `Invalid setting LLM_PROVIDERS: model "${model.id}" uses type "${model.type}", not supported yet`,
      );
  }
}

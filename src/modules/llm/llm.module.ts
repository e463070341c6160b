import { Module } from '@nestjs/common';
import { LlmRegistry } from './llm.registry';

@Module({ providers: [LlmRegistry], exports: [LlmRegistry] })
export class LlmModule {}

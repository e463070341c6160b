import { Module } from '@nestjs/common';
import { ContextWindow } from './context-window';
import { LlmEvents } from './llm-events';
import { LlmRegistry } from './llm.registry';
import { ModelStream } from './model-stream';
import { SessionTitler } from './session-titler';

@Module({
  providers: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler, ModelStream],
  exports: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler, ModelStream],
})
export class LlmModule {}

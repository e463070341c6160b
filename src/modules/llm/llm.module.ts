import { Module } from '@nestjs/common';
import { ContextWindow } from './context-window';
import { LlmEvents } from './llm-events';
import { LlmRegistry } from './llm.registry';
import { SessionTitler } from './session-titler';

@Module({
  providers: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler],
  exports: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler],
})
export class LlmModule {}

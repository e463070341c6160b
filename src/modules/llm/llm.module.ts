import { Module } from '@nestjs/common';
import { ContextWindow } from './context-window';
import { LlmEvents } from './llm-events';
import { LlmRegistry } from './llm.registry';
import { ModelStream } from './model-stream';
import { SessionTitler } from './session-titler';
import { VendorConversations } from './vendor-conversations';

@Module({
  providers: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler, ModelStream, VendorConversations],
  exports: [LlmRegistry, LlmEvents, ContextWindow, SessionTitler, ModelStream, VendorConversations],
})
export class LlmModule {}

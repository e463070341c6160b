import { type DynamicModule, Module } from '@nestjs/common';
import type { ApiDocsMode } from '../../config/server.settings';
import {
  AdminOpenApiController,
  ApiDocsPageController,
  PublicOpenApiController,
} from './api-docs.controller';
import { API_DOCUMENT, ApiDocument } from './api-document';

// API_DOCS=off registers no route at all; admin or public picks the document's guard.
@Module({})
export class ApiDocsModule {
  static with(mode: ApiDocsMode): DynamicModule {
    const document = { provide: API_DOCUMENT, useValue: new ApiDocument() };
    if (mode === 'off') return { module: ApiDocsModule, providers: [document], exports: [API_DOCUMENT] };
    return {
      module: ApiDocsModule,
      controllers: [
        mode === 'admin' ? AdminOpenApiController : PublicOpenApiController,
        ApiDocsPageController,
      ],
      providers: [document],
      exports: [API_DOCUMENT],
    };
  }
}

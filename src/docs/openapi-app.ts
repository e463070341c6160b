import { Module, type INestApplication, type Provider, type Type } from '@nestjs/common';
import {
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  PARAMTYPES_METADATA,
  SELF_DECLARED_DEPS_METADATA,
} from '@nestjs/common/constants';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AdminController } from '../modules/admin/admin.controller';
import { buildOpenApiDocument } from '../modules/api-docs/openapi-document';
import { CannedResponsesController } from '../modules/canned/canned-responses.controller';
import { ChatController } from '../modules/chat/chat.controller';
import { FeedbackController } from '../modules/feedback/feedback.controller';
import { HealthController } from '../modules/health/health.controller';
import { HistoryController } from '../modules/history/history.controller';
import { MetricsController } from '../modules/metrics/metrics.module';
import { NotesController } from '../modules/notes/notes.controller';
import { BlocksController } from '../modules/rooms/blocks.controller';
import { PublicRoomsController } from '../modules/rooms/public-rooms.controller';
import { RoomsAdminController } from '../modules/rooms/rooms-admin.controller';
import { RoomsController } from '../modules/rooms/rooms.controller';
import { SearchController } from '../modules/search/search.controller';
import { TakeoverController } from '../modules/takeover/takeover.controller';
import { BlobController } from '../modules/uploads/blob.controller';
import { UploadsController } from '../modules/uploads/uploads.controller';

// Every REST controller of the app, in the order AppModule registers them. The e2e suite checks the
// real app's document equals the one made from this list, so a controller left out fails there.
// The api-docs controllers are left out on purpose (@ApiExcludeController: they exist by API_DOCS).
// The rooms controllers and TakeoverController come in through ChatModule's imports.
export const REST_CONTROLLERS: Type[] = [
  MetricsController,
  UploadsController,
  BlobController,
  ChatController,
  TakeoverController,
  PublicRoomsController,
  RoomsController,
  BlocksController,
  RoomsAdminController,
  AdminController,
  FeedbackController,
  HistoryController,
  SearchController,
  CannedResponsesController,
  NotesController,
  HealthController,
];

// The controllers' constructor arguments, and those of the interceptors and guards their routes
// use, each an empty stub: routes and DTOs are read from decorators, so the document needs no
// database, settings or listening server.
function stubProviders(controllers: Type[]): Provider[] {
  const tokens = new Set<unknown>();
  const enhancers = (target: object): Type[] => [
    ...((Reflect.getMetadata(INTERCEPTORS_METADATA, target) ?? []) as Type[]),
    ...((Reflect.getMetadata(GUARDS_METADATA, target) ?? []) as Type[]),
  ];
  const classes = controllers.flatMap((controller) => [
    controller,
    ...enhancers(controller),
    ...Object.getOwnPropertyNames(controller.prototype).flatMap((name) =>
      enhancers((controller.prototype as Record<string, object>)[name]),
    ),
  ]);
  for (const controller of classes) {
    if (typeof controller !== 'function') continue;
    const types = (Reflect.getMetadata(PARAMTYPES_METADATA, controller) ?? []) as unknown[];
    const declared = (Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, controller) ?? []) as Array<{
      index: number;
      param: unknown;
    }>;
    const byIndex = new Map(declared.map(({ index, param }) => [index, param]));
    types.forEach((type, index) => tokens.add(byIndex.get(index) ?? type));
  }
  return [...tokens].map((token) => ({ provide: token as string, useValue: {} }));
}

export async function openApiDocumentFromControllers(
  controllers: Type[] = REST_CONTROLLERS,
): Promise<OpenAPIObject> {
  @Module({ controllers, providers: stubProviders(controllers) })
  class DocsModule {}
  const app: INestApplication = await NestFactory.create(DocsModule, { logger: false, abortOnError: false });
  try {
    return buildOpenApiDocument(app);
  } finally {
    await app.close();
  }
}

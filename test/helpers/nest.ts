import type { DynamicModule } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { SETTINGS, type Settings } from '../../src/config/settings';

// What an integration test's Nest module needs beside the feature under test: the settings
// (global, as in the app) and a connection to the suite's own FerretDB database.
export function databaseModules(settings: Settings): DynamicModule[] {
  return [
    {
      module: class SettingsHolder {},
      global: true,
      providers: [{ provide: SETTINGS, useValue: settings }],
      exports: [SETTINGS],
    },
    // commands are counted where a test shows how many an operation takes (as the app's metrics do)
    MongooseModule.forRoot(settings.mongodbUri, { monitorCommands: true }),
  ];
}

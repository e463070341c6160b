import type { MongoClient } from 'mongodb';
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

interface CommandStarted {
  commandName: string;
  command: Record<string, unknown>;
}
const HOUSEKEEPING = new Set(['hello', 'ismaster', 'ping', 'endSessions']);

// The names of the commands `task` sends to the store through `client` (a connection made with
// `databaseModules`, which monitors commands), the driver's own housekeeping left out; with
// `collection`, only those naming it.
export async function commandsDuring(
  client: MongoClient,
  task: () => Promise<unknown>,
  collection?: string,
): Promise<string[]> {
  const seen: string[] = [];
  const listener = (event: CommandStarted) => {
    if (HOUSEKEEPING.has(event.commandName)) return;
    if (collection !== undefined && event.command[event.commandName] !== collection) return;
    seen.push(event.commandName);
  };
  client.on('commandStarted', listener);
  try {
    await task();
  } finally {
    client.off('commandStarted', listener);
  }
  return seen;
}

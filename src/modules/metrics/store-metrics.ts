import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import type { Connection } from 'mongoose';
import type { Counter } from 'prom-client';

export const STORE_COMMANDS = 'chatbox_store_commands_total';
export const storeCommandsProvider = makeCounterProvider({
  name: STORE_COMMANDS,
  help: 'Commands the application sends to the store, by command and collection (one per operation mongoose starts)',
  labelNames: ['command', 'collection'],
});

// The command each collection operation sends (a cursor's further batches, getMore, are not counted).
const COMMAND_OF: Record<string, string> = {
  find: 'find',
  findOne: 'find',
  findOneAndUpdate: 'findAndModify',
  findOneAndReplace: 'findAndModify',
  findOneAndDelete: 'findAndModify',
  updateOne: 'update',
  updateMany: 'update',
  replaceOne: 'update',
  insertOne: 'insert',
  insertMany: 'insert',
  // chatbox's bulk writes are unordered batches of updateOne (SessionsRepository): one update command
  bulkWrite: 'update',
  deleteOne: 'delete',
  deleteMany: 'delete',
  countDocuments: 'aggregate',
  aggregate: 'aggregate',
  estimatedDocumentCount: 'count',
  distinct: 'distinct',
  createIndex: 'createIndexes',
  createIndexes: 'createIndexes',
  dropIndex: 'dropIndexes',
  listIndexes: 'listIndexes',
};

// Counts the application's store commands from mongoose's own 'operation-start' event, which every
// collection operation raises (the direct driver calls of the hot appends go through mongoose's
// collection too): the number of store operations per turn and per connect is what bench/README.md
// tracks. Not the driver's command monitoring: it decodes every reply a second time for its events
// (a whole session document per append) and builds two event objects per command.
@Injectable()
export class StoreMetrics implements OnModuleInit {
  constructor(
    @InjectConnection() private readonly connection: Connection,
    @InjectMetric(STORE_COMMANDS) private readonly commands: Counter<string>,
  ) {}

  onModuleInit(): void {
    this.connection.on('operation-start', (event: { collectionName?: unknown; method?: unknown }) =>
      this.count(event),
    );
  }

  private count(event: { collectionName?: unknown; method?: unknown }): void {
    const method = typeof event.method === 'string' ? event.method : '';
    const collection = typeof event.collectionName === 'string' ? event.collectionName : '';
    this.commands.inc({ command: COMMAND_OF[method] ?? method, collection });
  }
}

import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import type { Connection } from 'mongoose';
import type { CommandStartedEvent } from 'mongodb';
import type { Counter } from 'prom-client';

export const STORE_COMMANDS = 'chatbox_store_commands_total';
export const storeCommandsProvider = makeCounterProvider({
  name: STORE_COMMANDS,
  help: 'Commands sent to the store, by command and collection (the driver counts them as they start)',
  labelNames: ['command', 'collection'],
});

// The driver's handshakes and health checks are not the application's work.
const HOUSEKEEPING = new Set([
  'hello',
  'ismaster',
  'isMaster',
  'ping',
  'endSessions',
  'buildInfo',
  'saslStart',
]);

// Counts the application's store commands (needs the driver's `monitorCommands`, set in AppModule):
// the number of store operations per turn and per connect is what bench/README.md tracks.
@Injectable()
export class StoreMetrics implements OnModuleInit {
  constructor(
    @InjectConnection() private readonly connection: Connection,
    @InjectMetric(STORE_COMMANDS) private readonly commands: Counter<string>,
  ) {}

  onModuleInit(): void {
    this.connection.getClient().on('commandStarted', (event) => this.count(event));
  }

  count(event: Pick<CommandStartedEvent, 'commandName' | 'command'>): void {
    if (HOUSEKEEPING.has(event.commandName)) return;
    const target = (event.command as Record<string, unknown>)[event.commandName];
    const collection = typeof target === 'string' ? target : '';
    this.commands.inc({ command: event.commandName, collection });
  }
}

import { EventEmitter } from 'node:events';
import { Counter, Registry } from 'prom-client';
import type { Connection } from 'mongoose';
import { STORE_COMMANDS, StoreMetrics } from './store-metrics';

describe(StoreMetrics.name, () => {
  function setup() {
    const registry = new Registry();
    const counter = new Counter({
      name: STORE_COMMANDS,
      help: 'h',
      labelNames: ['command', 'collection'],
      registers: [registry],
    });
    // mongoose's connection announces every collection operation it starts ('operation-start')
    const connection = new EventEmitter();
    const metrics = new StoreMetrics(connection as unknown as Connection, counter);
    metrics.onModuleInit();
    const start = (collectionName: string, method: string) =>
      connection.emit('operation-start', { collectionName, method, params: [] });
    const value = async (labels: Record<string, string>) =>
      (await counter.get()).values.find(
        (sample) =>
          sample.labels.command === labels.command && sample.labels.collection === labels.collection,
      )?.value ?? 0;
    return { start, value };
  }

  it('should count each operation mongoose starts as the command it sends, by collection', async () => {
    const { start, value } = setup();
    start('sessions', 'findOneAndUpdate');
    start('sessions', 'findOneAndUpdate');
    start('sessions', 'updateOne');
    start('sessions', 'findOne');
    start('message_keys', 'insertOne');
    start('locks', 'deleteOne');
    expect(await value({ command: 'findAndModify', collection: 'sessions' })).toBe(2);
    expect(await value({ command: 'update', collection: 'sessions' })).toBe(1);
    expect(await value({ command: 'find', collection: 'sessions' })).toBe(1);
    expect(await value({ command: 'insert', collection: 'message_keys' })).toBe(1);
    expect(await value({ command: 'delete', collection: 'locks' })).toBe(1);
  });

  it('should name an operation it has no command for by the operation itself', async () => {
    const { start, value } = setup();
    start('sessions', 'someNewMethod');
    expect(await value({ command: 'someNewMethod', collection: 'sessions' })).toBe(1);
  });
});

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
    const metrics = new StoreMetrics({} as Connection, counter);
    const value = async (labels: Record<string, string>) =>
      (await counter.get()).values.find(
        (sample) =>
          sample.labels.command === labels.command && sample.labels.collection === labels.collection,
      )?.value ?? 0;
    return { metrics, value };
  }

  it('should count application commands by command and collection', async () => {
    const { metrics, value } = setup();
    metrics.count({ commandName: 'findAndModify', command: { findAndModify: 'sessions' } });
    metrics.count({ commandName: 'findAndModify', command: { findAndModify: 'sessions' } });
    metrics.count({ commandName: 'insert', command: { insert: 'message_keys' } });
    expect(await value({ command: 'findAndModify', collection: 'sessions' })).toBe(2);
    expect(await value({ command: 'insert', collection: 'message_keys' })).toBe(1);
  });

  it("should leave out the driver's handshakes and health checks", async () => {
    const { metrics, value } = setup();
    metrics.count({ commandName: 'hello', command: { hello: 1 } });
    metrics.count({ commandName: 'ping', command: { ping: 1 } });
    expect(await value({ command: 'hello', collection: '' })).toBe(0);
    expect(await value({ command: 'ping', collection: '' })).toBe(0);
  });
});

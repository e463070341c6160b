import fc from 'fast-check';
import { StoreWatchdog } from './store-watchdog';

// One look after another at a client that is or is not connected, a store that does or does not
// answer a fresh client, and a clock: the watchdog reconnects exactly when the client has been seen
// down at every look for stallMs and the probe answers, and then starts counting afresh.
describe('StoreWatchdog', () => {
  const STALL = 1_000;

  function world() {
    const state = { now: 0, readyState: 1, answers: true, reconnects: 0, fail: false };
    const client = {
      on: () => client,
      close: async () => undefined,
      connect: async () => {
        if (state.fail) throw new Error('refused');
        state.reconnects++;
      },
    };
    const logged: object[] = [];
    const watchdog = new StoreWatchdog(
      {
        connection: {
          get readyState() {
            return state.readyState;
          },
          getClient: () => client as never,
        } as never,
        probe: async () => state.answers,
        now: () => state.now,
        log: { error: (fields) => logged.push(fields), warn: (fields) => logged.push(fields) },
      },
      { stallMs: STALL, everyMs: 100 },
    );
    return { state, watchdog, logged };
  }

  const look = fc.record({
    after: fc.integer({ min: 0, max: 600 }),
    connected: fc.boolean(),
    answers: fc.boolean(),
    fails: fc.boolean(),
  });

  it('should reconnect when, and only when, the client was down at every look for stallMs and a fresh client reaches the store', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(look, { maxLength: 40 }), async (looks) => {
        const { state, watchdog, logged } = world();
        let downSince: number | undefined;
        let expected = 0;
        for (const step of looks) {
          state.now += step.after;
          state.readyState = step.connected ? 1 : 0;
          state.answers = step.answers;
          state.fail = step.fails;
          // the model
          if (step.connected) downSince = undefined;
          else if (downSince === undefined) downSince = state.now;
          else if (state.now - downSince >= STALL && step.answers && !step.fails) {
            expected++;
            downSince = undefined;
          }
          await watchdog.check();
          expect(state.reconnects).toBe(expected);
        }
        expect(logged.filter((entry) => 'down_ms' in entry).length).toBeGreaterThanOrEqual(expected);
      }),
    );
  });

  it('should run one look at a time however often it is asked', async () => {
    const { state, watchdog } = world();
    state.readyState = 0;
    await watchdog.check();
    state.now = STALL;
    await Promise.all([watchdog.check(), watchdog.check(), watchdog.check()]);
    expect(state.reconnects).toBe(1);
  });

  it('should log the heartbeats the client saw while down', async () => {
    const listeners = new Map<string, () => void>();
    const { state, logged } = world();
    const client = {
      on: (event: string, listener: () => void) => listeners.set(event, listener),
      close: async () => undefined,
      connect: async () => undefined,
    };
    const watchdog = new StoreWatchdog(
      {
        connection: { readyState: 0, getClient: () => client as never } as never,
        probe: async () => true,
        now: () => state.now,
        log: { error: (fields) => logged.push(fields), warn: () => undefined },
      },
      { stallMs: STALL, everyMs: 100_000 },
    );
    watchdog.start();
    await watchdog.check();
    listeners.get('serverHeartbeatStarted')!();
    listeners.get('serverHeartbeatFailed')!();
    listeners.get('serverHeartbeatStarted')!();
    state.now = STALL;
    await watchdog.check();
    await watchdog.stop();
    expect(logged).toEqual([
      {
        event: 'store_client_stuck',
        down_ms: STALL,
        heartbeats: { started: 2, succeeded: 0, failed: 1 },
      },
    ]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Settings } from '../../config/settings';

const START_DELAY_MS = 5_000;

export interface RotationCount {
  rewritten: number;
  failed: number;
}

// What one pass rewrites, for its log lines: `what` ("room messages"), the field naming an item in
// a failure (`message_id`), and the event of its end (`key_rotation_room_messages_done`).
export interface PassLabels {
  what: string;
  idField: string;
  doneEvent: string;
}

// When the passes that rewrite with the new key what older ENCRYPTION_KEYs wrote run (sessions, file
// names, alert reasons, notes, reports, room messages): only while ENCRYPTION_KEY_PREVIOUS is set,
// first a few seconds after start, then every `repeatMs` when given (docs/operations.md, "Rotating
// ENCRYPTION_KEY"). `stopped` tells a pass under way to end at its next item.
export class RotationPasses {
  stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  start(settings: Pick<Settings, 'encryption'>, run: () => Promise<unknown>, repeatMs?: number): void {
    if (settings.encryption.previousKeys.length === 0) return;
    this.timers.push(setTimeout(() => void run(), START_DELAY_MS).unref());
    if (repeatMs !== undefined) this.timers.push(setInterval(() => void run(), repeatMs).unref());
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
  }

  // One pass over `items`, one at a time with a pause between them (it yields to live traffic):
  // `rewrite` says whether it rewrote one. An item that fails (an unknown key, a lock not had in
  // time, a store error) stays as it is and is counted; the pass goes on, and its end is logged with
  // the counts and whether it was stopped.
  async rewriteEach<T>(
    logger: Logger,
    labels: PassLabels,
    items: AsyncIterable<T>,
    idOf: (item: T) => string,
    rewrite: (item: T) => Promise<boolean>,
    pauseMs: number,
  ): Promise<RotationCount> {
    const result = { rewritten: 0, failed: 0 };
    try {
      for await (const item of items) {
        if (this.stopped) break;
        try {
          if (await rewrite(item)) result.rewritten++;
        } catch (error) {
          result.failed++;
          logger.error(
            { event: 'key_rotation_failed', [labels.idField]: idOf(item), error: String(error) },
            `could not re-encrypt one of the ${labels.what}`,
          );
        }
        if (pauseMs > 0) await sleep(pauseMs);
      }
    } catch (error) {
      result.failed++;
      logger.error({ event: 'key_rotation_failed', error: String(error) }, `${labels.what} not re-encrypted`);
    }
    logger.log({ event: labels.doneEvent, ...result, stopped: this.stopped }, `${labels.what} re-encrypted`);
    return result;
  }
}

// One collection's key-rotation service (sessions, file names, alert reasons, notes, reports, room
// messages): its passes start with the app, while ENCRYPTION_KEY_PREVIOUS is set, and again every
// `repeatMs` when given, and stop with it. `run` is one pass.
export abstract class KeyRotationPass implements OnApplicationBootstrap, OnModuleDestroy {
  protected readonly logger = new Logger('key-rotation');
  protected readonly passes = new RotationPasses();

  protected constructor(
    private readonly settings: Pick<Settings, 'encryption'>,
    private readonly repeatMs?: number,
  ) {}

  onApplicationBootstrap(): void {
    this.passes.start(this.settings, () => this.run(), this.repeatMs);
  }

  onModuleDestroy(): void {
    this.passes.stop();
  }

  abstract run(): Promise<unknown>;
}

import type { Settings } from '../../config/settings';

const START_DELAY_MS = 5_000;

// When the passes that rewrite with the new key what older ENCRYPTION_KEYs wrote run (sessions, file
// names, alert reasons, session notes, reports, room messages): only while ENCRYPTION_KEY_PREVIOUS
// is set, first a few seconds after start, then every `repeatMs` when given (docs/operations.md,
// "Rotating ENCRYPTION_KEY"). `stopped` tells a pass under way to end at its next item.
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
}

import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { AlertsService } from './alerts.service';
import { NotificationsRepository } from './notifications.repository';
import { newId } from '../../common/ids';

// Two watches that need no outside monitor: MongoDB reachability (database_failure when it stops
// answering) and crashes: each instance beats in `instances`; one that stopped beating without a
// clean shutdown (SIGKILL, OOM, a fatal error) is reported once by whichever instance sees it first,
// including the same server after a restart.
@Injectable()
export class InstanceWatch implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('alerts');
  private readonly instance = { id: newId(), host: hostname(), pid: process.pid, startedAt: new Date() };
  private timer?: NodeJS.Timeout;
  private databaseDown = false;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly repository: NotificationsRepository,
    private readonly alerts: AlertsService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.check(), this.settings.notifications.watchIntervalMs);
    this.timer.unref();
    void this.check();
  }

  // a clean stop is not a crash: beats go on while the server drains, then the record goes, while
  // MongoDB is still connected
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    // a beat still in flight would write the record back after it is removed
    await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    // at most a second: a store that is gone would hold the exit for the driver's server selection
    // (5 s); the record left then lapses as a crashed instance's does
    await Promise.race([
      this.repository.forget(this.instance.id).catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
  }

  check(now = new Date()): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.watch(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async watch(now: Date): Promise<void> {
    try {
      await this.repository.beat(this.instance, now);
      if (this.databaseDown) {
        this.databaseDown = false;
        this.logger.log({ event: 'database_back' }, 'MongoDB answers again');
      }
      await this.reportCrashes(now);
    } catch (error) {
      if (!this.databaseDown) {
        this.databaseDown = true;
        await this.alerts.raise({
          type: 'database_failure',
          details: `MongoDB does not answer from ${this.instance.host} (pid ${this.instance.pid}): ${describe(error)}`,
          at: now,
        });
      }
    }
  }

  private async reportCrashes(now: Date): Promise<void> {
    const silentSince = new Date(now.getTime() - 3 * this.settings.notifications.watchIntervalMs);
    for (const stale of await this.repository.stale(silentSince)) {
      if (stale._id === this.instance.id) continue;
      const first = await this.repository.mark(`crash:${stale._id}`, 7 * 86_400_000);
      await this.repository.forget(stale._id);
      if (!first) continue;
      await this.alerts.raise({
        type: 'crash',
        details:
          `instance ${stale._id.slice(0, 8)} on ${stale.host} (pid ${stale.pid}), started ` +
          `${new Date(stale.started_at).toISOString()}, stopped beating at ${new Date(stale.last_seen).toISOString()} ` +
          'without shutting down',
        at: now,
      });
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200);
}

import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectMetric, makeCounterProvider } from '@willsoto/nestjs-prometheus';
import type { Counter } from 'prom-client';
import { SETTINGS, type Settings } from '../../config/settings';
import { VendorConversations } from '../llm/vendor-conversations';
import { NotesService } from '../notes/notes.service';
import { AlertsService } from '../notifications/alerts.service';
import { SessionRemoval } from '../sessions/session-removal';
import { TakeoverRepository } from '../takeover/takeover.repository';
import { FilesService } from '../uploads/files.service';
import { SessionFiles } from '../uploads/session-files';

// at most this long between sweeps (less when DELETED_SESSION_RETENTION is shorter)
const SWEEP_EVERY_MS = 3_600_000;
// deleted sessions read at once
const BATCH = 100;

export const SESSION_PURGE_METRIC_PROVIDERS = [
  makeCounterProvider({
    name: 'chatbox_sessions_purged_total',
    help: 'Deleted sessions purged after DELETED_SESSION_RETENTION',
  }),
];

// Sessions their users deleted are purged DELETED_SESSION_RETENTION (30 days) after, with everything
// they hold: until then nothing ever removed one (docs/protocol.md, "Session library"). A session's
// files go first, each under its lock: one no other session or room shows is deleted, bytes first
// (its owner's quota with its record); one shown elsewhere too stays for those, taken off the
// session. Then, under the session's lock: its conversations at vendors (Dify's), its notes, its
// takeover records, its settled alerts, its search index and last its document (its messages,
// feedback and CSAT are in it), so a purge cut off anywhere (a vendor down included) leaves the
// session deleted and due, and the next sweep finishes it. Every instance sweeps; each step is
// idempotent (two instances purging one session remove nothing more), and each instance takes its
// batch in an order of its own, so that two rarely work on one session.
@Injectable()
export class SessionPurgeService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('sessions');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly removal: SessionRemoval,
    private readonly sessionFiles: SessionFiles,
    private readonly files: FilesService,
    private readonly notes: NotesService,
    private readonly takeovers: TakeoverRepository,
    private readonly alerts: AlertsService,
    private readonly conversations: VendorConversations,
    @Inject(SETTINGS) private readonly settings: Settings,
    @InjectMetric('chatbox_sessions_purged_total') private readonly purged: Counter<string>,
  ) {}

  onModuleInit(): void {
    const every = Math.min(SWEEP_EVERY_MS, this.settings.deletedSessionRetentionMs);
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  // a stopping instance lets its sweep finish before the store client closes
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  // One sweep at a time on this instance (a call while one runs gets that one). The number of
  // sessions this instance purged.
  sweep(now = Date.now()): Promise<number> {
    this.running ??= this.purgeDue(new Date(now - this.settings.deletedSessionRetentionMs))
      .catch((error: unknown) => {
        this.logger.warn({ event: 'session_purge_failed', err: String(error) }, 'session purge failed');
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async purgeDue(cutoff: Date): Promise<number> {
    let purged = 0;
    for (;;) {
      const due = shuffled(await this.removal.expired(cutoff, BATCH));
      if (due.length === 0) break;
      const held = await this.sessionFiles.heldBy(due);
      let batch = 0;
      for (const sessionId of due)
        if (await this.purge(sessionId, cutoff, held.get(sessionId) ?? [])) batch++;
      purged += batch;
      if (batch > 0) {
        this.purged.inc(batch);
        this.logger.log({ event: 'sessions_purged', count: batch }, 'deleted sessions purged');
      }
      // none of them purged here (another instance did, or each failed): the next sweep looks again
      if (batch === 0 || due.length < BATCH) break;
    }
    return purged;
  }

  // true when this instance removed the session's document
  private async purge(sessionId: string, cutoff: Date, fileIds: string[]): Promise<boolean> {
    try {
      // no message of the session shows any of them any more: none is stored in a deleted session
      await this.files.discard(fileIds, sessionId, () => Promise.resolve(new Set<string>()));
      return await this.removal.remove(sessionId, cutoff, async (session) => {
        // first: a vendor that cannot be reached leaves the session whole for the next sweep
        await this.conversations.removeOf(session);
        await this.notes.removeOf(sessionId);
        await this.takeovers.removeOf(sessionId);
        await this.alerts.forgetSession(sessionId);
      });
    } catch (error) {
      this.logger.warn(
        { event: 'session_purge_failed', session_id: sessionId, err: String(error) },
        'deleted session not purged; the next sweep tries again',
      );
      return false;
    }
  }
}

function shuffled<T>(items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other], items[index]];
  }
  return items;
}

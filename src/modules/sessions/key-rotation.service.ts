import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { KeyRotationPass } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';
import { SessionTermsIndexer } from './session-terms.indexer';

// After ENCRYPTION_KEY rotates (the old key moved to ENCRYPTION_KEY_PREVIOUS), every instance
// re-encrypts stored message content, file names, feedback reasons and CSAT comments with the new key
// in the background, one session at a time under its lock; a second instance doing the same finds
// nothing left to do. When a pass ends with no failures the old keys are no longer needed by the
// sessions (the other collections have passes of their own: docs/operations.md, "Rotating
// ENCRYPTION_KEY"). Then the sessions' search index: every entry holding tokens of another key is
// made anew with the new one (SessionTermsIndexer.reindex), whether or not its session's content
// needed rewriting (docs/protocol.md, "Search").
// between sessions: the pass yields to live traffic
const PAUSE_MS = 20;

export interface RotationResult {
  sessions: number;
  messages: number;
  failed: number;
}

@Injectable()
export class KeyRotationService extends KeyRotationPass {
  constructor(
    private readonly repository: SessionsRepository,
    private readonly sessions: SessionsService,
    @Inject(SETTINGS) settings: Settings,
    private readonly index: SessionTermsIndexer,
  ) {
    super(settings);
  }

  // The content pass, then the search index's, then the names' search tokens.
  async run(pauseMs = PAUSE_MS): Promise<RotationResult & { reindexed: number; names: number }> {
    const result = await this.reencrypt(pauseMs);
    const reindexed = await this.passes.rewriteEach(
      this.logger,
      { what: 'search index entries', idField: 'session_id', doneEvent: 'key_rotation_search_index_done' },
      this.index.madeWithOtherKeys(),
      (sessionId) => sessionId,
      (sessionId) => this.index.reindex(sessionId),
      pauseMs,
    );
    // Until session 43 a name's tokens were left as the old key made them: once
    // ENCRYPTION_KEY_PREVIOUS was emptied, the name's words found nothing.
    const names = await this.passes.rewriteEach(
      this.logger,
      { what: 'session names', idField: 'session_id', doneEvent: 'key_rotation_session_names_done' },
      this.repository.namesWithOtherKeys(),
      (sessionId) => sessionId,
      (sessionId) => this.sessions.exclusive(sessionId, () => this.repository.reindexName(sessionId)),
      pauseMs,
    );
    return {
      ...result,
      failed: result.failed + reindexed.failed + names.failed,
      reindexed: reindexed.rewritten,
      names: names.rewritten,
    };
  }

  private async reencrypt(pauseMs: number): Promise<RotationResult> {
    const result: RotationResult = { sessions: 0, messages: 0, failed: 0 };
    this.logger.log({ event: 'key_rotation_started' }, 're-encrypting content written with previous keys');
    try {
      for await (const sessionId of this.repository.sessionsWithOldKeys()) {
        if (this.passes.stopped) break;
        try {
          // every writer holds the lock, so a changed session is rare: one more try, then a failure
          const rewrite = () =>
            this.sessions.exclusive(sessionId, () => this.repository.reencrypt(sessionId));
          const done = (await rewrite()) ?? (await rewrite());
          if (done === null) throw new Error('the session kept changing');
          // a session whose only old-key fields were CSAT comments counts with no message
          if (done.rewritten)
            [result.sessions, result.messages] = [result.sessions + 1, result.messages + done.messages];
        } catch (error) {
          // an unknown key or a store error: this session keeps its content as it is
          result.failed++;
          this.logger.error(
            { event: 'key_rotation_failed', session_id: sessionId, error: String(error) },
            'could not re-encrypt a session',
          );
        }
        if (pauseMs > 0) await sleep(pauseMs);
      }
    } catch (error) {
      result.failed++;
      this.logger.error({ event: 'key_rotation_failed', error: String(error) }, 'key rotation stopped');
    }
    this.logger.log(
      { event: 'key_rotation_done', ...result, stopped: this.passes.stopped },
      result.failed === 0 && !this.passes.stopped
        ? 'sessions re-encrypted with ENCRYPTION_KEY'
        : 'key rotation incomplete: it runs again at the next start',
    );
    return result;
  }
}

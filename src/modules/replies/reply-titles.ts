import { Logger } from '@nestjs/common';
import type { SessionTitler } from '../llm/session-titler';
import type { ClientHub } from '../realtime/client-hub';
import type { SessionsService } from '../sessions/sessions.service';
import { describeError } from '../../common/logging/logging';

// A better name than the heuristic one, asked of the model in the background once the first
// exchange is complete (docs/protocol.md, "Session titles").
export class ReplyTitles {
  private readonly logger = new Logger('llm');
  // ends the titles still being asked for when the server stops
  private readonly closing = new AbortController();
  // the titles being asked for or stored
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly titler: SessionTitler,
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
  ) {}

  // The server stops: the titles being asked for end, and this resolves once none is left that may
  // still write the session (the store client closes after the shutdown hooks)
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.all(this.pending);
  }

  retitle(
    sessionId: string,
    userId: string,
    modelId: string,
    userText: string,
    replyText: string,
  ): Promise<void> {
    const pending = this.ask(sessionId, userId, modelId, userText, replyText).finally(() =>
      this.pending.delete(pending),
    );
    this.pending.add(pending);
    return pending;
  }

  private async ask(
    sessionId: string,
    userId: string,
    modelId: string,
    userText: string,
    replyText: string,
  ): Promise<void> {
    try {
      const name = await this.titler.title({
        modelId,
        userId,
        userText,
        replyText,
        signal: this.closing.signal,
      });
      if (!name || !(await this.sessions.retitle(sessionId, userId, name))) return;
      this.hub.ephemeral(sessionId, { type: 'session_renamed', content: name });
    } catch (error) {
      this.logger.warn(
        { session_id: sessionId, event: 'title_failed', err: describeError(error) },
        'title failed',
      );
    }
  }
}

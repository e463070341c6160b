import type { SessionCopies } from './session-copies';
import { DEFAULT_SESSION_NAME, nameFromFirstMessage } from './session-rules';
import type {
  AssistanceState,
  FeedbackRating,
  FeedbackResult,
  HelpAfterLapse,
  HelpMark,
  HelpRequestMark,
  SessionHead,
  SessionRecord,
} from './session.types';
import type { AssistanceRepository } from './assistance.repository';
import type { SessionsRepository } from './sessions.repository';

// Writes to a session document outside the log's seq (its name, model, feedback, read mark, rating,
// provider state, help and takeover fields), each whole under the service's session lock, as appends
// are (SessionsService delegates them here).
export class SessionEdits {
  constructor(
    private readonly repository: SessionsRepository,
    private readonly assistance: AssistanceRepository,
    private readonly copies: SessionCopies,
    private readonly sessionLock: <T>(sessionId: string, task: () => Promise<T>) => Promise<T>,
  ) {}

  async nameFromFirstMessage(session: SessionHead, content: string): Promise<string | undefined> {
    if (session.name !== DEFAULT_SESSION_NAME) return undefined;
    const name = nameFromFirstMessage(content);
    await this.sessionLock(session.id, async () => {
      await this.repository.update(session.id, { name });
      this.copies.amend(session.id, { name });
    });
    return name;
  }

  // Writes to one session document go through the session's queue, as appends do: FerretDB 1.24
  // (SQLite) applies concurrent updates of one document as read-modify-write and loses all but one.
  // writes outside the log's seq drop the session's snapshot: a reply started early never relies
  // on a copy older than them (EarlyReplies checks model and takeover on the stored session too)
  setModel(sessionId: string, modelId: string): Promise<void> {
    this.copies.snapshots.delete(sessionId);
    return this.sessionLock(sessionId, () => this.repository.setModel(sessionId, modelId));
  }

  // A user's rating of a reply in their session; undefined when there is no such reply.
  setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason?: string,
  ): Promise<FeedbackResult | undefined> {
    return this.sessionLock(sessionId, () =>
      this.repository.setFeedback(sessionId, userId, messageId, rating, reason),
    );
  }

  // The owner's changes to one of their sessions (issue 15): false when it is not theirs (or deleted).
  async updateOwned(
    sessionId: string,
    userId: string,
    changes: { name?: string; archived?: boolean },
  ): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      if (!(await this.repository.findOwned(sessionId, userId))) return false;
      // a name the owner gives is theirs: a model's title, even one asked for before, never replaces it
      if (changes.name === undefined) await this.repository.update(sessionId, changes);
      else {
        await this.repository.update(sessionId, { ...changes, named_by_user: true });
        this.copies.amend(sessionId, { name: changes.name });
      }
      return true;
    });
  }

  markSeen(sessionId: string, userId: string, messageId: string): Promise<Date | undefined> {
    return this.sessionLock(sessionId, () =>
      this.repository.markSeen(sessionId, userId, messageId, new Date()),
    );
  }

  // CSAT: the owner's 1-5 rating (and comment) of the takeover that ended last.
  rateTakeover(sessionId: string, userId: string, rating: number, comment?: string) {
    return this.sessionLock(sessionId, () =>
      this.repository.rateTakeover(sessionId, userId, rating, comment, new Date()),
    );
  }

  // A model's title for the session (docs/protocol.md, "Session titles"): it names the session unless
  // the owner named it, before or while the title was asked for. The check is the write's filter, under
  // the session lock as the owner's rename is (FerretDB applies an update as an unlocked
  // read-modify-write), so neither overwrites the other unseen. false: not renamed.
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      const renamed = await this.repository.retitle(sessionId, userId, name);
      if (renamed) this.copies.amend(sessionId, { name });
      return renamed;
    });
  }

  // Vendor-side state per model (Dify's conversation_id); replies of a session run one at a time,
  // so this read-modify-write has no concurrent writer of provider_state.
  setProviderState(
    sessionId: string,
    userId: string,
    modelId: string,
    state: Record<string, unknown>,
  ): Promise<void> {
    return this.sessionLock(sessionId, async () => {
      const session = await this.repository.findOwned(sessionId, userId);
      if (!session) return;
      await this.repository.update(sessionId, {
        provider_state: { ...session.provider_state, [stateKey(modelId)]: state },
      });
    });
  }

  providerState(session: SessionRecord, modelId: string): Record<string, unknown> | undefined {
    const state = session.provider_state[stateKey(modelId)];
    return typeof state === 'object' && state !== null ? (state as Record<string, unknown>) : undefined;
  }

  // Help and takeover fields of the session document, each write under the session lock.
  assistanceState(sessionId: string): Promise<AssistanceState | null> {
    return this.assistance.state(sessionId);
  }

  // An admin joined: the pending help request was answered after `responseMs`.
  answerHelp(sessionId: string, requestedAt: Date, responseMs: number): Promise<void> {
    return this.sessionLock(sessionId, () => this.assistance.answerHelp(sessionId, requestedAt, responseMs));
  }

  markHelpRequested(sessionId: string, userId: string, request: HelpRequestMark): Promise<HelpMark> {
    return this.sessionLock(sessionId, () => this.assistance.markHelpRequested(sessionId, userId, request));
  }

  helpAfterLapse(sessionId: string, startedAt: Date, at: Date): Promise<HelpAfterLapse | null> {
    return this.sessionLock(sessionId, () => this.assistance.helpAfterLapse(sessionId, startedAt, at));
  }
}

// Model ids are settings ("gpt-4.1"); MongoDB field names may not hold '.' or start with '$'.
export function stateKey(modelId: string): string {
  return modelId.replace(/[%.$]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

// The model id a provider_state key was kept under (every '%' of a model id is escaped too).
export function modelOfStateKey(key: string): string {
  return key.replace(/%([0-9A-F]{2})/g, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

import type { LlmRegistry } from '../llm/llm.registry';
import type { MessageRecord, NewMessage, WrittenSession } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import type { ReplyFences } from './reply-fences';
import { newGeneration, type Generation, type ReplyRequest } from './reply-generation';

// A reply started before its message was stored (docs/protocol.md, "Early start"): `confirm` with
// the session as the append left it shows the reply when the model saw exactly that history, and
// otherwise drops it (nothing was shown, nothing is stored) so the caller asks as usual.
export interface EarlyReply {
  confirm(written: WrittenSession): boolean;
  cancel(): void;
}

export interface EarlyStart {
  generation: Generation;
  decided: Promise<boolean>;
}

// A user's turn whose message is being stored.
export interface EarlyRequest {
  sessionId: string;
  userId: string;
  clientId?: string;
  message: NewMessage;
  decidedAt?: number;
}

// What an early start needs of the session's reply queue (ReplyService).
export interface ReplyQueue {
  // a reply is queued or running for the session on this instance
  answering(sessionId: string): boolean;
  // the log holds a turn still to be answered before a new one (an instance died with it queued)
  orphans(sessionId: string, messages: MessageRecord[]): boolean;
  run(input: ReplyRequest, early: EarlyStart): void;
  // the reply becomes visible
  show(generation: Generation): void;
}

export class EarlyReplies {
  constructor(
    private readonly sessions: SessionsService,
    private readonly registry: LlmRegistry,
    private readonly fences: ReplyFences,
    private readonly queue: ReplyQueue,
  ) {}

  // Starts the model on a user's turn while its message is being stored, when this instance holds
  // the session as last written and nothing else is answering it; the caller confirms or cancels.
  start(input: EarlyRequest): EarlyReply | undefined {
    const { sessionId } = input;
    const snapshot = this.sessions.snapshot(sessionId);
    if (!snapshot || snapshot.user_id !== input.userId || snapshot.assisting_admin_id) return undefined;
    // A takeover this instance heard of over the bus: the copy, as this instance last wrote it, does
    // not show one another instance logged. The message is the admin's: no vendor may see it. Until
    // the third black-box audit it was asked early and cancelled once stored (3 of 3 rounds).
    if (this.fences.on(sessionId)) return undefined;
    if (this.queue.answering(sessionId) || !this.registry.has(snapshot.model_id)) return undefined;
    // an earlier turn still open is answered first, in order (ReplyService): not this one early
    if (this.queue.orphans(sessionId, snapshot.messages)) return undefined;
    // a stateful vendor's conversation state is written beside the log, outside its seq
    if (this.registry.entry(snapshot.model_id).provider.stateful) return undefined;
    const seq = snapshot.seq + 1;
    const written: WrittenSession = {
      ...snapshot,
      seq,
      messages: [...snapshot.messages, { ...input.message, seq }],
    };
    let decide!: (go: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (decide = resolve));
    const generation = newGeneration(sessionId, snapshot.model_id, input.clientId, input.decidedAt);
    generation.held = [];
    let settled = false;
    const drop = (): void => {
      settled = true;
      generation.controller.abort('cancelled');
      decide(false);
    };
    this.queue.run(
      {
        sessionId,
        userId: input.userId,
        modelId: snapshot.model_id,
        clientId: input.clientId,
        written,
        turnSeq: seq,
      },
      { generation, decided },
    );
    return {
      confirm: (stored) => {
        if (settled) return false;
        this.fences.endedInLog(stored);
        // cut off by a takeover's fence while it waited for its message (a piece came before the
        // write answered): dropped unseen. The caller asks again (false) only when the session as
        // written shows that takeover over (endedInLog: the message after admin_leave on a loaded
        // store); still fenced, the turn is the admin's, and a second request would hold the
        // session's replies while the takeover waits for them to settle
        if (generation.controller.signal.aborted) {
          drop();
          return this.fences.fenced(generation);
        }
        // the model saw exactly this history: nothing was stored in between (any instance), the
        // model is the same and no admin took the session over meanwhile
        if (stored.seq !== seq || stored.model_id !== snapshot.model_id || stored.assisting_admin_id) {
          drop();
          return false;
        }
        settled = true;
        this.queue.show(generation);
        decide(true);
        return true;
      },
      cancel: () => {
        if (!settled) drop();
      },
    };
  }
}

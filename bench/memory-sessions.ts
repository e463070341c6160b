// The bench's "persistence off" variant: SessionsRepository's contract kept in process memory, so
// the same server runs with no session database work at all (content is still encrypted, as it
// would be on its way to MongoDB). Never used by the product; see chatbox-memory.ts.
import { Inject } from '@nestjs/common';
import type { ContentCipher } from '../src/common/crypto/content-cipher';
import {
  boundedBySessionSize,
  DEFAULT_SESSION_NAME,
  dedupKey,
  openMsUntil,
  reopened,
  STORE_SESSION_BYTES,
  storedSize,
} from '../src/modules/sessions/session-rules';
import {
  CONTENT_CIPHER,
  type NewSession,
  type SessionsRepository,
} from '../src/modules/sessions/sessions.repository';
import type { SessionTermsRepository } from '../src/modules/sessions/session-terms.repository';
import type {
  AppendEffects,
  AppendResult,
  AppendReturning,
  MessageRecord,
  NewMessage,
  SessionHead,
  SessionRecord,
  SessionWithMessages,
} from '../src/modules/sessions/session.types';

type Stored = MessageRecord & { dedup?: string };
interface Entry {
  record: SessionRecord;
  messages: Stored[];
  responseMsTotal: number;
}

export class MemorySessionsRepository implements Pick<SessionsRepository, keyof SessionsRepository> {
  private readonly sessions = new Map<string, Entry>();
  private readonly current = new Map<string, string>();

  constructor(@Inject(CONTENT_CIPHER) private readonly cipher: ContentCipher) {}

  onModuleInit(): Promise<void> {
    return Promise.resolve();
  }

  // the bench stores nothing under old keys
  async *sessionsWithOldKeys(): AsyncGenerator<string> {}

  reencrypt(): Promise<{ messages: number; rewritten: boolean } | null> {
    return Promise.resolve({ messages: 0, rewritten: false });
  }

  async *namesWithOtherKeys(): AsyncGenerator<string> {}

  reindexName(): Promise<boolean> {
    return Promise.resolve(false);
  }

  create(input: NewSession): Promise<SessionRecord> {
    const record: SessionRecord = {
      id: input.id,
      user_id: input.userId,
      name: input.name,
      model_id: input.modelId,
      is_active: true,
      start_time: input.now,
      end_time: null,
      duration_ms: null,
      last_activity: input.now,
      last_message_at: null,
      message_count: 0,
      seq: 0,
      bytes: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      total_tokens: 0,
      response_count: 0,
      avg_response_ms: 0,
      max_response_ms: 0,
      help_requested: false,
      help_requested_at: null,
      admin_assisted: false,
      assisting_admin_id: null,
      assisting_admin_name: null,
      provider_state: {},
    };
    this.sessions.set(input.id, { record, messages: [], responseMsTotal: 0 });
    this.current.set(input.userId, input.id);
    return Promise.resolve({ ...record });
  }

  async activeOrFirst(input: NewSession): Promise<{ active: SessionRecord | null; created?: SessionRecord }> {
    if (!this.current.has(input.userId)) return { active: null, created: await this.create(input) };
    return { active: await this.findActiveForUser(input.userId) };
  }

  findActiveForUser(userId: string): Promise<SessionRecord | null> {
    const entry = this.sessions.get(this.current.get(userId) ?? '');
    return Promise.resolve(entry?.record.is_active ? { ...entry.record } : null);
  }

  findAny(sessionId: string): Promise<SessionRecord | null> {
    const entry = this.sessions.get(sessionId);
    return Promise.resolve(entry ? { ...entry.record } : null);
  }

  findOwned(sessionId: string, userId: string): Promise<SessionRecord | null> {
    const entry = this.owned(sessionId, userId);
    return Promise.resolve(entry ? { ...entry.record } : null);
  }

  findOwnedWithMessages(sessionId: string, userId: string): Promise<SessionWithMessages | null> {
    const entry = this.owned(sessionId, userId);
    return Promise.resolve(entry ? this.withMessages(entry) : null);
  }

  findAnyWithMessages(sessionId: string): Promise<SessionWithMessages | null> {
    const entry = this.sessions.get(sessionId);
    return Promise.resolve(entry ? this.withMessages(entry) : null);
  }

  findByDedup(sessionId: string, dedup: string, owner?: string): Promise<MessageRecord | undefined> {
    const entry = this.sessions.get(sessionId);
    if (!entry || (owner !== undefined && entry.record.user_id !== owner)) return Promise.resolve(undefined);
    const previous = entry.messages.find((stored) => stored.dedup === dedup);
    return Promise.resolve(previous ? this.decrypt(previous) : undefined);
  }

  seqOf(sessionId: string): Promise<number | undefined> {
    return Promise.resolve(this.sessions.get(sessionId)?.record.seq);
  }

  bytesOf(sessionId: string): Promise<number | undefined> {
    return Promise.resolve(this.sessions.get(sessionId)?.record.bytes);
  }

  listForUser(userId: string, page: { limit: number }): Promise<SessionRecord[]> {
    const mine = [...this.sessions.values()]
      .filter((entry) => entry.record.user_id === userId)
      .sort((a, b) => b.record.last_activity.getTime() - a.record.last_activity.getTime());
    return Promise.resolve(mine.slice(0, page.limit).map((entry) => ({ ...entry.record })));
  }

  messagesAfter(sessionId: string, userId: string, afterSeq: number): Promise<MessageRecord[]> {
    return Promise.resolve(this.after(this.owned(sessionId, userId), afterSeq));
  }

  messagesAfterAny(sessionId: string, afterSeq: number): Promise<MessageRecord[]> {
    return Promise.resolve(this.after(this.sessions.get(sessionId), afterSeq));
  }

  append(
    sessionId: string,
    expectedSeq: number,
    message: NewMessage,
    maxBytes: number,
    effects: AppendEffects = {},
    // `name`: set in the same write when the session still has the default name, as the store's
    // append does (a name given meanwhile is 'named', and the message goes again without it)
    // `held`: the head this instance holds, whose fields guard the write as the store's append's do
    options: { owner?: string; returning?: AppendReturning; name?: string; held?: SessionHead } = {},
  ): Promise<AppendResult> {
    const entry = this.sessions.get(sessionId);
    // a deleted session takes no append, whoever writes (the store's append: SessionAppender)
    if (
      !entry ||
      entry.record.deleted === true ||
      (options.owner !== undefined && entry.record.user_id !== options.owner)
    )
      return Promise.resolve({ status: 'missing' });
    const content = message.content === undefined ? undefined : this.cipher.encrypt(message.content);
    const size = storedSize(message, content);
    const dedup = dedupKey(message);
    const previous = dedup ? entry.messages.find((stored) => stored.dedup === dedup) : undefined;
    if (previous) return Promise.resolve({ status: 'duplicate', message: this.decrypt(previous) });
    const record = entry.record;
    if (record.seq !== expectedSeq) return Promise.resolve({ status: 'conflict', currentSeq: record.seq });
    const held = options.held;
    if (
      held &&
      (held.user_id !== record.user_id ||
        held.model_id !== record.model_id ||
        held.assisting_admin_id !== record.assisting_admin_id ||
        (options.name === undefined && held.name !== record.name))
    )
      return Promise.resolve({ status: 'conflict', currentSeq: record.seq });
    // a reply is held to the store's bound only (the store's append also cuts it to fit there)
    const bound = boundedBySessionSize(message) ? maxBytes : STORE_SESSION_BYTES;
    if (record.bytes > bound - size) return Promise.resolve({ status: 'full' });
    if (options.name !== undefined && record.name !== DEFAULT_SESSION_NAME)
      return Promise.resolve({ status: 'named' });
    if (options.name !== undefined) record.name = options.name;
    const seq = expectedSeq + 1;
    entry.messages.push({ ...message, content, dedup, seq });
    record.seq = seq;
    record.bytes += size;
    record.last_activity = message.timestamp;
    if (effects.countsAsMessage !== false) {
      record.message_count++;
      record.last_message_at = message.timestamp;
    }
    if (effects.usage) {
      record.prompt_tokens += effects.usage.prompt_tokens;
      record.completion_tokens += effects.usage.completion_tokens;
      record.total_tokens += effects.usage.total_tokens;
    }
    if (effects.response_ms !== undefined) {
      record.response_count++;
      entry.responseMsTotal += effects.response_ms;
      record.avg_response_ms = Math.round(entry.responseMsTotal / record.response_count);
      record.max_response_ms = Math.max(record.max_response_ms, effects.response_ms);
    }
    const stored = { ...message, seq };
    const named = options.name;
    if (held) return Promise.resolve({ status: 'stored', message: stored, head: { ...record }, named });
    const session = options.returning === 'session' ? this.withMessages(entry) : undefined;
    return Promise.resolve({ status: 'stored', message: stored, session, named });
  }

  // the store's retitle: renamed unless its owner named it (or deleted it)
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    const record = this.sessions.get(sessionId)?.record;
    if (!record || record.user_id !== userId || record.named_by_user || record.deleted)
      return Promise.resolve(false);
    record.name = name;
    return Promise.resolve(true);
  }

  setModel(sessionId: string, modelId: string): Promise<void> {
    const record = this.sessions.get(sessionId)?.record;
    if (record && !record.deleted) record.model_id = modelId;
    return Promise.resolve();
  }

  update(
    sessionId: string,
    changes: Partial<Pick<SessionRecord, 'name' | 'model_id' | 'provider_state'>>,
  ): Promise<void> {
    const entry = this.sessions.get(sessionId);
    if (entry) Object.assign(entry.record, changes);
    return Promise.resolve();
  }

  // issue 15's per-session features are not part of the benchmarked traffic
  setFeedback(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  markSeen(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  rateTakeover(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  search(): Promise<never[]> {
    return Promise.resolve([]);
  }

  reactivate(sessionId: string, userId: string, now: Date): ReturnType<SessionsRepository['reactivate']> {
    const record = this.sessions.get(sessionId)?.record;
    const periods =
      record && !record.is_active ? reopened(record, record.end_time ?? record.last_activity, now) : {};
    if (record)
      Object.assign(record, {
        is_active: true,
        end_time: null,
        duration_ms: null,
        last_activity: now,
        ...periods,
      });
    this.current.set(userId, sessionId);
    return Promise.resolve(periods);
  }

  end(
    sessionId: string,
    endTime?: Date,
    idleBefore?: Date,
  ): Promise<{ seq: number; assisted: boolean } | undefined> {
    const record = this.sessions.get(sessionId)?.record;
    if (!record?.is_active) return Promise.resolve(undefined);
    if (idleBefore && record.last_activity >= idleBefore) return Promise.resolve(undefined);
    const end = endTime ?? record.last_activity;
    Object.assign(record, {
      is_active: false,
      help_pending: false,
      end_time: end,
      duration_ms: openMsUntil(record, end),
    });
    return Promise.resolve({ seq: record.seq, assisted: record.assisting_admin_id != null });
  }

  touch(sessionId: string, now: Date): Promise<boolean> {
    const record = this.sessions.get(sessionId)?.record;
    if (record?.is_active) record.last_activity = now;
    return Promise.resolve(record?.is_active === true);
  }

  findIdle(idleSince: Date, limit = 500): Promise<string[]> {
    const idle = [...this.sessions.values()]
      .filter((entry) => entry.record.is_active && entry.record.last_activity < idleSince)
      .map((entry) => entry.record.id);
    return Promise.resolve(idle.slice(0, limit));
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  private owned(sessionId: string, userId: string): Entry | undefined {
    const entry = this.sessions.get(sessionId);
    return entry?.record.user_id === userId ? entry : undefined;
  }

  private after(entry: Entry | undefined, afterSeq: number): MessageRecord[] {
    return (entry?.messages ?? [])
      .filter((message) => message.seq > afterSeq)
      .map((message) => this.decrypt(message));
  }

  private withMessages(entry: Entry): SessionWithMessages {
    return { ...entry.record, messages: entry.messages.map((message) => this.decrypt(message)) };
  }

  private decrypt({ dedup: _dedup, ...message }: Stored): MessageRecord {
    return {
      ...message,
      content: message.content === undefined ? undefined : this.cipher.decrypt(message.content),
    };
  }
}

// The search index's store (session_terms) in memory too: the index write after each turn is a store
// command of the persisted server's, and the variant keeps none.
export class MemorySessionTermsRepository implements Pick<
  SessionTermsRepository,
  keyof SessionTermsRepository
> {
  private readonly terms = new Map<
    string,
    { seq: number; userId: string; tokens: Set<string>; deleted?: boolean; keys?: Set<string> }
  >();

  onModuleInit(): Promise<void> {
    return Promise.resolve();
  }

  add(addition: Parameters<SessionTermsRepository['add']>[0]): Promise<boolean> {
    const held = this.terms.get(addition.sessionId);
    if ((held?.seq ?? 0) !== addition.from) return Promise.resolve(false);
    const tokens = held?.tokens ?? new Set<string>();
    for (const token of addition.tokens) tokens.add(token);
    const keys = new Set([...(held?.keys ?? []), addition.keyId]);
    this.terms.set(addition.sessionId, { ...held, seq: addition.to, userId: addition.userId, tokens, keys });
    return Promise.resolve(true);
  }

  indexedSeq(sessionId: string): Promise<number> {
    return Promise.resolve(this.terms.get(sessionId)?.seq ?? 0);
  }

  matching(
    byWord: string[][],
    scope: { userId?: string; includeDeleted: boolean },
    limit: number,
  ): Promise<string[]> {
    const found: string[] = [];
    for (const [sessionId, held] of this.terms)
      if (
        (scope.userId === undefined || held.userId === scope.userId) &&
        (scope.includeDeleted || !held.deleted) &&
        byWord.every((tokens) => tokens.some((token) => held.tokens.has(token)))
      )
        found.push(sessionId);
    return Promise.resolve(found.slice(0, limit));
  }

  markDeleted(sessionId: string, userId: string): Promise<void> {
    const held = this.terms.get(sessionId) ?? { seq: 0, userId, tokens: new Set<string>() };
    this.terms.set(sessionId, { ...held, deleted: true });
    return Promise.resolve();
  }

  markFound(sessionId: string): Promise<void> {
    const held = this.terms.get(sessionId);
    if (held) held.deleted = true;
    return Promise.resolve();
  }

  unmarked(ids: string[]): Promise<string[]> {
    return Promise.resolve(ids.filter((id) => this.terms.has(id) && !this.terms.get(id)!.deleted));
  }

  async *madeWithOtherKeys(keyId: string): AsyncGenerator<string> {
    for (const [sessionId, held] of this.terms)
      if ([...(held.keys ?? [])].some((key) => key !== keyId)) yield await Promise.resolve(sessionId);
  }

  rewrite(rewrite: Parameters<SessionTermsRepository['rewrite']>[0]): Promise<void> {
    const held = this.terms.get(rewrite.sessionId);
    if (held)
      this.terms.set(rewrite.sessionId, {
        ...held,
        seq: rewrite.seq,
        userId: rewrite.userId,
        tokens: new Set(rewrite.tokens),
        keys: new Set([rewrite.keyId]),
      });
    return Promise.resolve();
  }
}

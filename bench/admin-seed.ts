import type { Collection, Document } from 'mongodb';

// 100k realistic session documents (no messages unless asked for: the list never reads them, the
// metrics read their type, model and feedback), spread over
// 60 days, 2000 users, durations around 10 minutes, 1 % still active, 5 % admin-assisted, 8 % with a
// help request. Deterministic (seeded), so runs compare.
export const SEED_DAYS = 60;
export const SEED_USERS = 2000;

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function userIdOf(index: number): string {
  return `bench-user-${String(index).padStart(5, '0')}`;
}

// A session's log of `count` messages, user and AI in turn, ~300 characters each (the metrics read
// their type, model and feedback; FerretDB decodes every document whole whatever the projection).
function messagesOf(count: number, start: number, next: () => number): Document[] {
  return Array.from({ length: count }, (_, index) => {
    const ai = index % 2 === 1;
    return {
      id: `m-${index}`,
      seq: index + 1,
      type: ai ? 'ai_response' : 'user_message',
      sender: ai ? 'ai' : 'user',
      content: 'x'.repeat(300),
      timestamp: new Date(start + index * 30_000),
      ...(ai ? { model_id: 'demo' } : {}),
      metadata: ai ? { response_ms: 1200, ...(next() < 0.1 ? { feedback: 'up' } : {}) } : {},
    };
  });
}

export async function seedSessions(
  collection: Collection<Document & { _id: string }>,
  count: number,
  now: number,
  log: (line: string) => void,
  messagesPerSession = 0,
): Promise<void> {
  const existing = await collection.estimatedDocumentCount();
  if (existing >= count) {
    log(`[bench:admin] reusing ${existing} seeded sessions`);
    return;
  }
  await collection.deleteMany({});
  const next = random(42);
  const batch = 5000;
  const started = performance.now();
  for (let offset = 0; offset < count; offset += batch) {
    const documents: Array<Document & { _id: string }> = [];
    for (let index = offset; index < Math.min(count, offset + batch); index++) {
      const start = now - next() * SEED_DAYS * 86_400_000;
      const active = next() < 0.01;
      const durationMs = Math.round(-Math.log(1 - next()) * 600_000);
      const end = active ? null : new Date(Math.min(now, start + durationMs));
      const responses = Math.floor(next() * 12);
      const assisted = next() < 0.05;
      const help = next() < 0.08;
      const helpAnswered = help && assisted;
      const helpMs = helpAnswered ? Math.round(next() * 300_000) : 0;
      documents.push({
        _id: `bench-${String(index).padStart(7, '0')}`,
        user_id: userIdOf(Math.floor(next() * SEED_USERS)),
        name: 'Bench chat',
        model_id: 'demo',
        is_active: active,
        start_time: new Date(start),
        end_time: end,
        duration_ms: end ? end.getTime() - start : null,
        last_activity: end ?? new Date(now),
        last_message_at: end ?? new Date(now),
        message_count: responses * 2,
        seq: responses * 2,
        bytes: responses * 600,
        prompt_tokens: responses * 300,
        completion_tokens: responses * 200,
        total_tokens: responses * 500,
        response_count: responses,
        response_ms_total: responses * Math.round(800 + next() * 4000),
        max_response_ms: responses > 0 ? Math.round(1000 + next() * 8000) : 0,
        help_requested: help,
        help_requested_at: help ? new Date(start + 60_000) : null,
        help_pending: help && !assisted,
        help_response_count: helpAnswered ? 1 : 0,
        help_response_ms_total: helpMs,
        help_response_ms_max: helpMs,
        admin_assisted: assisted,
        assisting_admin_id: null,
        assisting_admin_name: assisted ? 'Bench Admin' : null,
        takeovers: [],
        provider_state: {},
        messages: messagesOf(messagesPerSession, start, next),
      });
    }
    await collection.insertMany(documents, { ordered: false });
    if ((offset / batch) % 4 === 0) log(`[bench:admin] seeded ${Math.min(count, offset + batch)} / ${count}`);
  }
  log(`[bench:admin] seeded ${count} sessions in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

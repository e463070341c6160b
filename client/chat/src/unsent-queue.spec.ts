import fc from 'fast-check';
import {
  parseUnsent,
  serializeUnsent,
  UNSENT_MAX_CHARS,
  UNSENT_MAX_ENTRIES,
  UnsentQueue,
  unsentKey,
  type UnsentEntry,
  type UnsentOwner,
} from './unsent-queue';

const OWNER: UnsentOwner = { userId: 'u1', sessionId: 's1' };

const typed = (clientId: string, content = `text ${clientId}`): UnsentEntry => ({
  frame: { type: 'user_message', client_id: clientId, content },
  message: { type: 'user_message', sender: 'user', content, timestamp: '2026-01-01T00:00:00.000Z' },
});

// sessionStorage as the browser has it (string values, keys by index)
class MemoryStorage {
  items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const clientId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const text = fc.string({ maxLength: 200 });
const entry: fc.Arbitrary<UnsentEntry> = fc.oneof(
  fc.record({ id: clientId, content: text }).map(({ id, content }) => typed(id, content)),
  fc.record({ id: clientId, content: text, target: clientId }).map(({ id, content, target }) => ({
    frame: { type: 'edit_message' as const, client_id: id, id: target, content },
    message: {
      type: 'user_message' as const,
      sender: 'user' as const,
      content,
      metadata: { edit_of: target },
    },
  })),
  fc.record({ id: clientId, file: clientId, name: text, size: fc.nat() }).map(({ id, file, name, size }) => ({
    frame: { type: 'file_upload' as const, client_id: id, file_id: file },
    message: {
      type: 'file_upload' as const,
      sender: 'user' as const,
      content: '',
      attachment: { fileId: file, url: `/chat/files/${file}`, name, mimeType: 'image/png', size },
    },
  })),
  fc.record({ id: clientId, reply: clientId }).map(({ id, reply }) => ({
    frame: { type: 'reply_select' as const, client_id: id, id: reply },
    message: {
      type: 'reply_select' as const,
      sender: 'user' as const,
      content: '',
      metadata: { reply_id: reply },
    },
  })),
);
// JSON a corrupted (or hand-edited) storage may hold, prototype keys among the keys
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'frame', 'message', 'entries');
const hostile = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileKey, fc.string()), tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('parseUnsent', () => {
  it('should read back what was saved, for its user and session only, capped to the oldest entries', () => {
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.frame.client_id, maxLength: 70 }), (entries) => {
        const stored = serializeUnsent(OWNER, entries);
        expect(parseUnsent(stored, OWNER)).toEqual(entries.slice(0, UNSENT_MAX_ENTRIES));
        expect(parseUnsent(stored, { userId: 'u2', sessionId: 's1' })).toEqual([]);
        expect(parseUnsent(stored, { userId: 'u1', sessionId: 's2' })).toEqual([]);
      }),
    );
  });

  it('should store the oldest entries that fit its size', () => {
    const long = Array.from({ length: UNSENT_MAX_ENTRIES }, (_, index) =>
      typed(`c${index}`, 'x'.repeat(20_000)),
    );
    const stored = serializeUnsent(OWNER, long);
    expect(stored.length).toBeLessThanOrEqual(UNSENT_MAX_CHARS);
    const kept = parseUnsent(stored, OWNER);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(long.slice(0, kept.length));
  });

  it('should never throw on corrupted storage, and return only well-formed entries', () => {
    const check = (stored: string | null) => {
      const entries = parseUnsent(stored, OWNER);
      expect(entries.length).toBeLessThanOrEqual(UNSENT_MAX_ENTRIES);
      // every entry is in its normal form: saving and reading it again changes nothing
      expect(parseUnsent(serializeUnsent(OWNER, entries), OWNER)).toEqual(entries);
      for (const { frame } of entries) expect(typeof frame.client_id).toBe('string');
    };
    fc.assert(fc.property(fc.string(), check));
    fc.assert(
      fc.property(hostile, (value) => check(JSON.stringify({ user: 'u1', session: 's1', entries: value }))),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(hostile, entry), { maxLength: 8 }), (list) =>
        check(JSON.stringify({ user: 'u1', session: 's1', entries: list })),
      ),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('should keep the good entries beside bad ones, and take no prototype keys from storage', () => {
    const stored =
      '{"user":"u1","session":"s1","entries":[' +
      '{"__proto__":{"polluted":1},"frame":{"type":"user_message","client_id":"a","content":"hi",' +
      '"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}},' +
      '"message":{"type":"user_message","sender":"user","content":"hi","metadata":{"__proto__":{"polluted":1}}}},' +
      '{"frame":{"type":"chat","room_id":"r","client_id":"b","content":"room"},"message":{"type":"chat","sender":"user","content":"room"}},' +
      '{"frame":{"type":"user_message","client_id":"c"},"message":{"type":"user_message","sender":"user","content":""}},' +
      '{"frame":{"type":"user_message","client_id":"d","content":"ok"},"message":{"type":"user_message","sender":"user","content":"ok"}}' +
      ']}';
    const entries = parseUnsent(stored, OWNER);
    expect(entries.map((e) => e.frame.client_id)).toEqual(['a', 'd']);
    expect(entries[0].frame).toEqual({ type: 'user_message', client_id: 'a', content: 'hi' });
    expect(Object.keys(entries[0].message)).toEqual(['type', 'sender', 'content']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(parseUnsent('x'.repeat(2_000_000), OWNER)).toEqual([]);
  });
});

describe(UnsentQueue.name, () => {
  // a queue per session of the user: those of sessions left are owed to them until they are shown
  // again (client audit t16: a switch of session dropped them)
  it("should keep a queue per session of the user, and drop another user's", () => {
    const storage = new MemoryStorage();
    const queue = new UnsentQueue(() => storage as unknown as Storage);
    const left = { userId: 'u1', sessionId: 'old' };
    queue.save(left, [typed('a')]);
    storage.setItem('chatbox:token', 'kept');
    queue.save(OWNER, [typed('c')]);
    expect([...storage.items.keys()].sort()).toEqual(
      ['chatbox:token', unsentKey(left), unsentKey(OWNER)].sort(),
    );
    expect(queue.owed('u1')).toEqual(new Set(['old', 's1']));
    expect(queue.load(left).map((e) => e.frame.client_id)).toEqual(['a']);
    queue.save(OWNER, []);
    expect(queue.owed('u1')).toEqual(new Set(['old']));
    // a reload: read back from storage alone
    expect(new UnsentQueue(() => storage as unknown as Storage).load(left)).toHaveLength(1);
    // another user signs in: nothing of u1's is kept, nor ever sent for u2
    queue.save({ userId: 'u2', sessionId: 's9' }, [typed('b')]);
    expect([...storage.items.keys()].sort()).toEqual(
      ['chatbox:token', unsentKey({ userId: 'u2', sessionId: 's9' })].sort(),
    );
    expect(queue.load(left)).toEqual([]);
    expect(queue.owed('u1')).toEqual(new Set());
  });

  it("should keep the user's queues within the storage cap together, the one saved last first", () => {
    const storage = new MemoryStorage();
    const queue = new UnsentQueue(() => storage as unknown as Storage);
    const big = (id: string) => typed(id, 'x'.repeat(UNSENT_MAX_CHARS / 2 - 500));
    const older = { userId: 'u1', sessionId: 'older' };
    queue.save(older, [big('a')]);
    queue.save(OWNER, [big('b'), big('c')]);
    // the shown session's queue is stored (as much of it as fits); the older one no longer fits beside it
    expect(storage.getItem(unsentKey(OWNER))).not.toBeNull();
    expect(storage.getItem(unsentKey(older))).toBeNull();
    const total = [...storage.items.values()].reduce((sum, value) => sum + value.length, 0);
    expect(total).toBeLessThanOrEqual(UNSENT_MAX_CHARS);
    // the page still holds it, and sends it when that session is shown
    expect(queue.load(older).map((e) => e.frame.client_id)).toEqual(['a']);
  });

  it('should keep the queues in memory when the browser refuses storage', () => {
    const refusing = {
      get length(): number {
        throw new Error('SecurityError');
      },
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    for (const storage of [
      () => refusing as unknown as Storage,
      (): Storage => {
        throw new Error('SecurityError');
      },
    ]) {
      const queue = new UnsentQueue(storage);
      expect(() => queue.save(OWNER, [typed('a')])).not.toThrow();
      expect(queue.load(OWNER).map((e) => e.frame.client_id)).toEqual(['a']);
      expect(queue.owed('u1')).toEqual(new Set(['s1']));
      expect(new UnsentQueue(storage).load(OWNER)).toEqual([]);
    }
  });
});

import fc from 'fast-check';
import type { ChatSocket, LinkState } from '../chat-socket';
import { RoomsClient } from './rooms-client';
import type { RoomMessage } from './thread-state';

// Changes to messages a device already holds, made while it was away (issue 14): after a reconnect
// the client reads the room's newest page again and shows what the server holds now
// (docs/protocol.md, "Resume point"). A fake server holds the room; its socket side answers what
// the client puts on the wire when told to, its REST side (global fetch) answers
// GET /rooms/:id/messages from the state at the time of the request, when told to.

const ROOM = 'room-1';
const ME = 'alice';
const OTHER = 'bob';
const EMOJIS = ['👍', '🎉'];

interface ServerMessage {
  id: string;
  seq: number;
  userId: string;
  content: string;
  editedAt?: string;
  deleted: boolean;
  reactions: Map<string, Set<string>>;
}

class FakeServer {
  readonly messages: ServerMessage[];
  // ops of the client not handled yet, in the order they reached the wire
  readonly inbox: Array<Record<string, unknown>> = [];
  // REST reads on their way: the answer is the state when the request came
  readonly reads: Array<{ url: string; body: unknown; resolve: () => void }> = [];
  readonly applied = new Map<string, Record<string, unknown>>();
  private clock = 0;
  // the change log (docs/protocol.md, "Change log"), when this server keeps one: the message each
  // change number changed; `reset` answers every changes read with reset (a log that cannot answer)
  readonly log: string[] = [];
  logging = false;
  reset = false;
  // changes per read (the server's page of log entries)
  changesPage = 100;
  connected = true;
  state: LinkState = { kind: 'connected' };
  client!: RoomsClient;

  constructor(count: number) {
    this.messages = Array.from({ length: count }, (_, index) => ({
      id: `m${index + 1}`,
      seq: index + 1,
      userId: index % 2 === 0 ? ME : OTHER,
      content: `message ${index + 1}`,
      deleted: false,
      reactions: new Map(),
    }));
  }

  find(id: string): ServerMessage | undefined {
    return this.messages.find((message) => message.id === id);
  }

  item(message: ServerMessage): Record<string, unknown> {
    const reactions: Record<string, string[]> = {};
    for (const [emoji, users] of message.reactions) if (users.size > 0) reactions[emoji] = [...users];
    return {
      type: 'chat',
      room_id: ROOM,
      message_id: message.id,
      seq: message.seq,
      user_id: message.userId,
      timestamp: '2026-01-01T00:00:00.000Z',
      ...(message.deleted ? {} : { content: message.content }),
      metadata: {
        kind: 'text',
        ...(message.editedAt ? { edited_at: message.editedAt } : {}),
        ...(message.deleted ? { deleted: true } : { reactions }),
      },
    };
  }

  // to the client's socket, when it is up
  push(frame: Record<string, unknown>): void {
    if (this.state.kind === 'connected') this.client.onFrame(frame);
  }

  // the change number of the next change, in its frame's metadata (a server with a log)
  private numbered(messageId: string): { change?: number } {
    if (!this.logging) return {};
    this.log.push(messageId);
    return { change: this.log.length };
  }

  // A change by `userId` (the other user, or the client's own op arriving): applied as the server
  // does, told to the room; the frames for this socket, when it is up.
  change(userId: string, kind: string, messageId: string, content: string, remove: boolean): string | null {
    const message = this.find(messageId);
    if (!message || message.deleted) return 'NOT_FOUND';
    if (kind === 'edit' && message.userId !== userId) return 'FORBIDDEN';
    const number = this.numbered(messageId);
    if (kind === 'edit') {
      message.content = content;
      message.editedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, ++this.clock)).toISOString();
      this.push({
        type: 'edit',
        room_id: ROOM,
        message_id: messageId,
        user_id: userId,
        content,
        metadata: { edited_at: message.editedAt, ...number },
      });
    } else if (kind === 'delete') {
      Object.assign(message, { deleted: true, content: '', reactions: new Map() });
      this.push({
        type: 'delete',
        room_id: ROOM,
        message_id: messageId,
        user_id: userId,
        ...(number.change !== undefined ? { metadata: number } : {}),
      });
    } else {
      const users = message.reactions.get(content) ?? new Set<string>();
      if (remove) users.delete(userId);
      else users.add(userId);
      message.reactions.set(content, users);
      this.push({
        type: 'react',
        room_id: ROOM,
        message_id: messageId,
        user_id: userId,
        content,
        metadata: { removed: remove, ...number },
      });
    }
    return null;
  }

  // The next op off the wire: applied once per client_id (a copy is acked again), then acked.
  handleNext(): void {
    const frame = this.inbox.shift();
    if (!frame) return;
    if (frame.type === 'join') return this.answerJoin();
    // read marks, typing: nothing to do here
    if (!['edit', 'delete', 'react'].includes(String(frame.type))) return;
    const clientId = String(frame.client_id);
    const messageId = String(frame.message_id);
    let error: string | null = null;
    if (!this.applied.has(clientId)) {
      error = this.change(
        ME,
        String(frame.type),
        messageId,
        String(frame.content ?? ''),
        (frame.metadata as { remove?: boolean } | undefined)?.remove === true,
      );
      if (!error) this.applied.set(clientId, frame);
    }
    if (error)
      this.push({
        type: 'error',
        room_id: ROOM,
        client_id: clientId,
        error: { code: error, message: error, recoverable: true },
      });
    else this.push({ type: 'ack', room_id: ROOM, client_id: clientId, message_id: messageId });
  }

  // The socket dies: of what the client sent and the server did not read yet, the first `landed`
  // frames are read (their answers lost with the socket; a socket keeps its frames' order), the
  // rest lost.
  cut(landed: number): void {
    this.state = { kind: 'reconnecting', retryAt: 0 };
    const inbox = this.inbox.splice(0);
    for (const frame of inbox.slice(0, landed)) {
      this.inbox.push(frame);
      this.handleNext();
    }
  }

  // The socket is back: the client joins again; the join is answered (nothing new to replay).
  reconnect(): void {
    this.state = { kind: 'connected' };
    this.client.onConnected();
  }

  // the joins the client put on the wire and the server did not answer yet
  answerJoins(): void {
    const joins = this.inbox.filter((frame) => frame.type === 'join');
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((frame) => frame.type !== 'join'));
    for (const _join of joins) this.answerJoin();
  }

  private answerJoin(): void {
    this.push({
      type: 'join',
      room_id: ROOM,
      user_id: ME,
      seq: this.messages.length,
      metadata: { online: [OTHER], replayed: 0, ...(this.logging ? { changed: this.log.length } : {}) },
    });
  }

  restRead(url: string): Promise<Response> {
    const { searchParams, pathname } = new URL(url);
    if (pathname !== `/api/v1/chat/rooms/${ROOM}/messages`)
      return Promise.resolve(json(404, { code: 'NOT_FOUND' }));
    if (searchParams.has('changed_after')) {
      // an old server refuses the parameter
      if (!this.logging) return Promise.resolve(json(400, { code: 'VALIDATION_FAILED' }));
      const after = Number(searchParams.get('changed_after'));
      const limit = Math.min(100, Number(searchParams.get('limit') ?? 100), this.changesPage);
      const head = this.log.length;
      const body =
        this.reset || after > head
          ? { items: [], changed_through: head, more: false, reset: true, next_before: null }
          : (() => {
              const entries = this.log.slice(after, after + limit);
              const ids = new Set(entries);
              return {
                items: this.messages
                  .filter((message) => ids.has(message.id))
                  .map((message) => this.item(message)),
                changed_through: after + entries.length,
                more: entries.length === limit,
                next_before: null,
              };
            })();
      return new Promise((resolve) =>
        this.reads.push({ url, body, resolve: () => resolve(json(200, body)) }),
      );
    }
    const before = Number(searchParams.get('before') ?? Infinity);
    const limit = Number(searchParams.get('limit') ?? 50);
    const items = this.messages
      .filter((message) => message.seq < before)
      .slice(-limit)
      .map((message) => this.item(message));
    const body = { items, next_before: items.length > 0 ? items[0].seq : null };
    return new Promise((resolve) => this.reads.push({ url, body, resolve: () => resolve(json(200, body)) }));
  }
}

function json(status: number, body: unknown): Response {
  return { ok: status < 400, status, json: () => Promise.resolve(body) } as unknown as Response;
}

const flush = async () => {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
};

// alice's device, holding the room's messages, with the room open
function setting(count = 4, logging = false) {
  const server = new FakeServer(count);
  server.logging = logging;
  const socket = {
    rooms: null,
    get state() {
      return server.state;
    },
    send: (frame: Record<string, unknown>) => {
      if (server.state.kind !== 'connected') return false;
      server.inbox.push(frame);
      return true;
    },
  };
  const rooms = new RoomsClient(socket as unknown as ChatSocket, () => 'token', ME);
  server.client = rooms;
  rooms.joinRoom(ROOM);
  server.inbox.length = 0;
  for (const message of server.messages) rooms.onFrame(server.item(message));
  rooms.onFrame({
    type: 'join',
    room_id: ROOM,
    user_id: ME,
    seq: count,
    metadata: { online: [OTHER], replayed: count, ...(logging ? { changed: 0 } : {}) },
  });
  rooms.open(ROOM);
  // answer every REST read at once (the tests that interleave them answer by hand)
  const answerReads = async () => {
    while (server.reads.length > 0) {
      server.reads.shift()!.resolve();
      await flush();
    }
  };
  // the device back after a cut: the socket reconnects, the server answers its joins and reads
  const resume = async () => {
    server.reconnect();
    server.answerJoins();
    await flush();
    await answerReads();
  };
  return { server, rooms, answerReads, resume };
}

// while the device is away: alice's other device edits m1; bob deletes his m2, reacts on m3 and
// edits m50; m149 changes too
function changeOlderMessages(server: FakeServer): void {
  server.change(ME, 'edit', 'm1', 'edited on the other device', false);
  server.change(OTHER, 'delete', 'm2', '', false);
  server.change(OTHER, 'react', 'm3', '👍', false);
  server.change(OTHER, 'edit', 'm50', 'bob, later', false);
  server.change(OTHER, 'react', 'm149', '🎉', false);
}

// what the client shows of a message, and what the server holds, alike
function shownState(message: RoomMessage | undefined) {
  if (!message) return undefined;
  const reactions = Object.entries(message.deleted ? {} : message.reactions)
    .filter(([, users]) => users.length > 0)
    .map(([emoji, users]) => `${emoji}:${[...users].sort().join(',')}`)
    .sort();
  return {
    content: message.deleted ? '' : message.content,
    deleted: message.deleted,
    edited: !message.deleted && message.editedAt !== undefined,
    reactions,
  };
}

function serverState(message: ServerMessage) {
  const reactions = [...message.reactions]
    .filter(([, users]) => users.size > 0)
    .map(([emoji, users]) => `${emoji}:${[...users].sort().join(',')}`)
    .sort();
  return {
    content: message.deleted ? '' : message.content,
    deleted: message.deleted,
    edited: !message.deleted && message.editedAt !== undefined,
    reactions: message.deleted ? [] : reactions,
  };
}

const shown = (rooms: RoomsClient, id: string) =>
  shownState(rooms.store.messages(ROOM).find((message) => message.messageId === id));

describe('RoomsClient: changes made while away, read again after a reconnect (issue 14)', () => {
  let fetchBefore: typeof globalThis.fetch;
  let server: FakeServer | undefined;
  const reads: string[] = [];

  beforeEach(() => {
    fetchBefore = globalThis.fetch;
    (globalThis as { window?: unknown }).window = { location: { href: 'http://chat.test/chat/' } };
    reads.length = 0;
    globalThis.fetch = ((url: URL | string) => {
      // the room list (read on a first join) and the blocks (read on a reconnect) answer nothing here
      if (/\/(rooms|blocks)$/.test(new URL(String(url)).pathname)) return new Promise(() => undefined);
      reads.push(String(url));
      return server!.restRead(String(url));
    }) as typeof globalThis.fetch;
  });

  afterEach(() => {
    globalThis.fetch = fetchBefore;
    delete (globalThis as { window?: unknown }).window;
    server = undefined;
  });

  it('should show a message deleted, one edited and reactions changed while disconnected once it is back', async () => {
    const world = setting();
    server = world.server;
    const { rooms } = world;
    server.cut(0);
    // bob's m2 deleted, m4 edited; reactions on alice's m1 and m3 by bob
    server.change(OTHER, 'delete', 'm2', '', false);
    server.change(OTHER, 'edit', 'm4', 'changed while away', false);
    server.change(OTHER, 'react', 'm1', '👍', false);
    server.change(OTHER, 'react', 'm3', '🎉', false);
    expect(shown(rooms, 'm2')).toMatchObject({ deleted: false, content: 'message 2' });
    await world.resume();
    expect(shown(rooms, 'm2')).toEqual({ content: '', deleted: true, edited: false, reactions: [] });
    expect(shown(rooms, 'm4')).toEqual({
      content: 'changed while away',
      deleted: false,
      edited: true,
      reactions: [],
    });
    expect(shown(rooms, 'm1')?.reactions).toEqual(['👍:bob']);
    expect(shown(rooms, 'm3')?.reactions).toEqual(['🎉:bob']);
    // nothing reordered, doubled or dropped
    expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual([1, 2, 3, 4]);
  });

  it('should show changes made while disconnected to messages older than the newest page (message 1 of 150)', async () => {
    const world = setting(150);
    server = world.server;
    const { rooms } = world;
    server.cut(0);
    // alice's other device edits m1; bob deletes his m2, reacts on m3 and edits m50; m149 changes too
    changeOlderMessages(server);
    await world.resume();
    expect(shown(rooms, 'm1')).toEqual({
      content: 'edited on the other device',
      deleted: false,
      edited: true,
      reactions: [],
    });
    for (const message of server.messages) expect(shown(rooms, message.id)).toEqual(serverState(message));
    expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual(
      server.messages.map((message) => message.seq),
    );
    // the newest page, then the page below it down to the oldest held message: nothing more
    expect(reads.map((url) => new URL(url).search)).toEqual(['?limit=100', '?before=51&limit=50']);
  });

  it('should read below the newest page only down to the oldest message held', async () => {
    const world = setting(150);
    server = world.server;
    const { rooms } = world;
    // the device holds seqs 40..150 (as if it had paged only that far)
    for (const message of rooms.store.messages(ROOM))
      if (message.seq !== undefined && message.seq < 40) rooms.store.thread(ROOM).byKey.delete(message.key);
    server.cut(0);
    server.change(OTHER, 'edit', 'm40', 'the oldest held', false);
    server.change(OTHER, 'edit', 'm38', 'not held', false);
    await world.resume();
    expect(shown(rooms, 'm40')?.content).toBe('the oldest held');
    expect(reads.map((url) => new URL(url).search)).toEqual(['?limit=100', '?before=51&limit=11']);
    expect(rooms.store.messages(ROOM)[0].seq).toBe(40);
  });

  it('should read no page below the newest one when the device holds nothing older', async () => {
    const world = setting(150);
    server = world.server;
    const { rooms } = world;
    // the device dropped what it held below seq 60 (as if it had only paged that far)
    for (const message of rooms.store.messages(ROOM))
      if (message.seq !== undefined && message.seq < 60) rooms.store.thread(ROOM).byKey.delete(message.key);
    server.cut(0);
    server.change(OTHER, 'edit', 'm60', 'older page, still held', false);
    await world.resume();
    expect(shown(rooms, 'm60')?.content).toBe('older page, still held');
    expect(reads.map((url) => new URL(url).search)).toEqual(['?limit=100']);
  });

  it('should read the newest page once per room and reconnect (after the join answered), not on the first join', async () => {
    const world = setting();
    server = world.server;
    const { answerReads } = world;
    await flush();
    expect(reads).toEqual([]);
    server.cut(0);
    server.reconnect();
    await flush();
    // not before the join answered
    expect(reads).toEqual([]);
    server.answerJoins();
    await flush();
    expect(reads).toHaveLength(1);
    expect(new URL(reads[0]).pathname).toBe(`/api/v1/chat/rooms/${ROOM}/messages`);
    expect(new URL(reads[0]).searchParams.get('limit')).toBe('100');
    expect(new URL(reads[0]).searchParams.has('before')).toBe(false);
    await answerReads();
    // a second join answer on the same connection reads nothing again
    world.rooms.onFrame({ type: 'join', room_id: ROOM, user_id: ME, seq: 4, metadata: { online: [] } });
    await flush();
    expect(reads).toHaveLength(1);
    server.cut(0);
    await world.resume();
    expect(reads).toHaveLength(2);
  });

  it("should not undo the user's own edit not acked yet with the older page, and still send it again", async () => {
    const world = setting();
    server = world.server;
    const { rooms, answerReads } = world;
    server.cut(0);
    rooms.edit('m1', 'mine, made while away');
    server.change(OTHER, 'react', 'm1', '👍', false);
    server.reconnect();
    server.answerJoins();
    await flush();
    // the edit went out after the join answered; the page (read now) holds the old text
    const sent = server.inbox.filter((frame) => frame.type === 'edit');
    expect(sent).toEqual([expect.objectContaining({ message_id: 'm1', content: 'mine, made while away' })]);
    await answerReads();
    expect(shown(rooms, 'm1')).toEqual({
      content: 'mine, made while away',
      deleted: false,
      edited: true,
      reactions: ['👍:bob'],
    });
    server.handleNext();
    expect(shown(rooms, 'm1')).toEqual(serverState(server.find('m1')!));
    expect(rooms.store.ops(ROOM)).toEqual([]);
  });

  it('should keep what came live while the page was on its way, and an op acked meanwhile', async () => {
    const world = setting();
    server = world.server;
    const { rooms, answerReads } = world;
    server.cut(0);
    server.change(OTHER, 'delete', 'm2', '', false);
    rooms.react('m3', '🎉');
    server.reconnect();
    server.answerJoins();
    await flush();
    expect(server.reads).toHaveLength(1);
    // after the read's snapshot: bob edits m4 (live), alice's reaction is applied and acked
    server.change(OTHER, 'edit', 'm4', 'live meanwhile', false);
    server.handleNext();
    expect(rooms.store.ops(ROOM)).toEqual([]);
    await answerReads();
    for (const message of server.messages) expect(shown(rooms, message.id)).toEqual(serverState(message));
  });

  // ---- with the server's change log (docs/protocol.md, "Change log") ----

  const searches = () => reads.map((url) => new URL(url).search);

  it('should read the changes after its mark instead of the pages it holds (message 1 of 150)', async () => {
    const world = setting(150, true);
    server = world.server;
    const { rooms } = world;
    server.cut(0);
    changeOlderMessages(server);
    await world.resume();
    for (const message of server.messages) expect(shown(rooms, message.id)).toEqual(serverState(message));
    expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual(
      server.messages.map((message) => message.seq),
    );
    // one read, whatever the device holds
    expect(searches()).toEqual(['?changed_after=0&limit=100']);
    expect(rooms.store.thread(ROOM).changes.point).toBe(5);
  });

  it('should move its mark with the numbered frames it applied, and stay below a frame it missed', async () => {
    const world = setting(4, true);
    server = world.server;
    const { rooms } = world;
    // live: change 1 applied
    server.change(OTHER, 'edit', 'm2', 'live', false);
    expect(rooms.store.thread(ROOM).changes.point).toBe(1);
    server.cut(0);
    // change 2 made while away (its frame lost)
    server.change(OTHER, 'edit', 'm4', 'while away', false);
    await world.resume();
    expect(shown(rooms, 'm4')?.content).toBe('while away');
    // live again: change 3 applied, change 4's frame lost with the socket
    server.change(OTHER, 'react', 'm1', '👍', false);
    server.cut(0);
    server.change(OTHER, 'react', 'm3', '🎉', false);
    await world.resume();
    expect(searches()).toEqual(['?changed_after=1&limit=100', '?changed_after=3&limit=100']);
    for (const message of server.messages) expect(shown(rooms, message.id)).toEqual(serverState(message));
    expect(rooms.store.thread(ROOM).changes.point).toBe(4);
  });

  it('should read on while the server says more (paged changes)', async () => {
    const world = setting(8, true);
    server = world.server;
    server.changesPage = 2;
    const { rooms } = world;
    server.cut(0);
    for (const id of ['m1', 'm3', 'm5', 'm7', 'm2']) server.change(OTHER, 'react', id, '👍', false);
    await world.resume();
    expect(searches()).toEqual([
      '?changed_after=0&limit=100',
      '?changed_after=2&limit=100',
      '?changed_after=4&limit=100',
    ]);
    for (const message of server.messages) expect(shown(rooms, message.id)).toEqual(serverState(message));
  });

  it('should read the pages it holds again when the log cannot answer (reset), then go on from the log', async () => {
    const world = setting(150, true);
    server = world.server;
    const { rooms } = world;
    server.cut(0);
    server.change(ME, 'edit', 'm1', 'old and changed', false);
    server.reset = true;
    await world.resume();
    expect(shown(rooms, 'm1')?.content).toBe('old and changed');
    expect(searches()).toEqual(['?changed_after=0&limit=100', '?limit=100', '?before=51&limit=50']);
    // the full read stands for every change up to the head the reset named
    expect(rooms.store.thread(ROOM).changes.point).toBe(1);
    server.reset = false;
    server.cut(0);
    server.change(OTHER, 'delete', 'm2', '', false);
    await world.resume();
    expect(searches().slice(3)).toEqual(['?changed_after=1&limit=100']);
    expect(shown(rooms, 'm2')?.deleted).toBe(true);
  });

  it('should read its pages again when the server refuses changed_after (a server without the log)', async () => {
    const world = setting(150, true);
    server = world.server;
    const { rooms, answerReads } = world;
    server.cut(0);
    server.logging = false;
    server.change(OTHER, 'edit', 'm50', 'changed', false);
    await world.resume();
    await flush();
    await answerReads();
    expect(shown(rooms, 'm50')?.content).toBe('changed');
    expect(searches()).toEqual(['?changed_after=0&limit=100', '?limit=100', '?before=51&limit=50']);
    // and from then on reads its pages, as with any server that gives no start
    expect(rooms.store.thread(ROOM).changes.point).toBeUndefined();
  });

  // ---- the property ----

  type Step =
    | { kind: 'other'; change: 'edit' | 'delete' | 'react'; index: number; emoji: number; remove: boolean }
    | { kind: 'own'; change: 'edit' | 'delete' | 'react'; index: number; emoji: number }
    | { kind: 'handle' }
    | { kind: 'cut'; landed: number }
    | { kind: 'reconnect' }
    | { kind: 'answerJoins' }
    | { kind: 'answerRead' };

  const COUNT = 5;
  const change = fc.constantFrom<'edit' | 'delete' | 'react'>('edit', 'delete', 'react', 'react');
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant('other' as const),
      change,
      index: fc.nat(COUNT - 1),
      emoji: fc.nat(1),
      remove: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('own' as const), change, index: fc.nat(COUNT - 1), emoji: fc.nat(1) }),
    fc.constant({ kind: 'handle' as const }),
    fc.constant({ kind: 'handle' as const }),
    fc.record({ kind: fc.constant('cut' as const), landed: fc.nat(4) }),
    fc.constant({ kind: 'reconnect' as const }),
    fc.constant({ kind: 'answerJoins' as const }),
    fc.constant({ kind: 'answerRead' as const }),
  );

  it.each([
    ['reading its pages again', false],
    ['reading the change log', true],
  ])(
    'should show every message as the server holds it after any interleaving settles, losing no acked op of its own (%s)',
    async (_, logging) => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
          reads.length = 0;
          const world = setting(COUNT, logging);
          server = world.server;
          const current = server;
          const { rooms, answerReads } = world;
          let nextEdit = 0;
          for (const action of steps) {
            switch (action.kind) {
              case 'other': {
                // bob edits his own messages; deletes and reacts on any
                const mine = current.messages.filter((message) => message.userId === OTHER);
                const target =
                  action.change === 'edit'
                    ? mine[action.index % mine.length]
                    : current.messages[action.index];
                const content = action.change === 'edit' ? `bob's edit ${nextEdit++}` : EMOJIS[action.emoji];
                current.change(OTHER, action.change, target.id, content, action.remove);
                break;
              }
              case 'own': {
                const target = current.messages[action.index];
                if (action.change === 'edit') {
                  if (target.userId === ME) rooms.edit(target.id, `alice's edit ${nextEdit++}`);
                } else if (action.change === 'delete') {
                  if (target.userId === ME) rooms.remove(target.id);
                } else rooms.react(target.id, EMOJIS[action.emoji]);
                break;
              }
              case 'handle':
                if (current.state.kind === 'connected') current.handleNext();
                break;
              case 'cut':
                if (current.state.kind === 'connected') current.cut(action.landed);
                break;
              case 'reconnect':
                if (current.state.kind !== 'connected') current.reconnect();
                break;
              case 'answerJoins':
                if (current.state.kind === 'connected') current.answerJoins();
                break;
              case 'answerRead':
                current.reads.shift()?.resolve();
                break;
            }
            await flush();
          }
          // settle: back, joined, every op handled, every read answered
          if (current.state.kind !== 'connected') current.reconnect();
          for (let round = 0; round < 20 && (current.inbox.length > 0 || current.reads.length > 0); round++) {
            current.answerJoins();
            await flush();
            while (current.inbox.length > 0) current.handleNext();
            await answerReads();
          }
          expect(current.inbox).toEqual([]);
          expect(rooms.store.ops(ROOM)).toEqual([]);
          for (const message of current.messages)
            expect(shown(rooms, message.id)).toEqual(serverState(message));
          expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual(
            current.messages.map((message) => message.seq),
          );
          // with the log, no page is read again: only the changes
          if (logging)
            for (const url of reads) expect(new URL(url).searchParams.has('changed_after')).toBe(true);
        }),
        { numRuns: Number(process.env.RUNS ?? 200) },
      );
    },
  );
});

import { isNewAnswer } from './chat-client';
import fc from 'fast-check';
import type { Frame } from '../../shared/protocol';
import { ChatStore, isStoredEvent, parseAttachments } from './chat-store';

const SESSION = 's1';

// A session log as the server sends it: a user message, its streamed reply, the final reply.
function conversation(turns: number): Frame[] {
  const frames: Frame[] = [];
  let seq = 0;
  for (let turn = 0; turn < turns; turn++) {
    frames.push({
      type: 'user_message',
      session_id: SESSION,
      seq: ++seq,
      id: `u${turn}`,
      client_id: `c${turn}`,
      sender: 'user',
      content: `question ${turn}`,
    });
    const reply = `answer number ${turn}`;
    const words = reply.match(/\S+\s*/g) ?? [];
    let offset = 0;
    for (const word of words) {
      frames.push({
        type: 'ai_response',
        session_id: SESSION,
        seq,
        id: `r${turn}`,
        sender: 'ai',
        metadata: { delta: word, offset, done: false },
      });
      offset += word.length;
    }
    frames.push({
      type: 'ai_response',
      session_id: SESSION,
      seq: ++seq,
      id: `r${turn}`,
      sender: 'ai',
      content: reply,
      metadata: { done: true },
    });
  }
  return frames;
}

describe(ChatStore.name, () => {
  it('should assemble a streamed reply from its deltas and replace it with the final text', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    const frames = conversation(1);
    for (const frame of frames.slice(0, 3)) store.apply(frame);
    expect(store.messages.map((message) => [message.content, message.streaming])).toEqual([
      ['question 0', false],
      ['answer number ', true],
    ]);
    for (const frame of frames.slice(3)) store.apply(frame);
    expect(store.messages.at(-1)).toMatchObject({ content: 'answer number 0', streaming: false, seq: 2 });
    expect(store.lastSeq).toBe(2);
  });

  // Dify's output moderation replaces a reply whose pieces were shown: the final frame carries the
  // replacement, shorter than what was shown (docs/protocol.md, "Vendor streams end with the vendor's end")
  it("should end a reply with the final frame's text when it differs from the pieces shown", () => {
    const store = new ChatStore();
    store.reset(SESSION);
    const frames = conversation(1);
    for (const frame of frames.slice(0, 4)) store.apply(frame);
    expect(store.messages.at(-1)?.content).toBe('answer number 0');
    store.apply({ ...frames[4], content: 'Sorry.' });
    expect(store.messages.at(-1)).toMatchObject({ content: 'Sorry.', streaming: false });
  });

  it('should show every message once and in seq order however frames are repeated (replay, resend)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.nat(), { maxLength: 30 }), (turns, repeats) => {
        const frames = conversation(turns);
        const store = new ChatStore();
        store.reset(SESSION);
        // the user's own first message is shown pending before its ack
        store.addPending({ type: 'user_message', sender: 'user', content: 'question 0', clientId: 'c0' });
        const delivered = [...frames];
        // a reconnect replays a suffix of the log, deltas and all
        for (const index of repeats) delivered.push(frames[index % frames.length]);
        for (const frame of delivered) store.apply(frame);
        const finals = frames.filter((frame) => isStoredEvent(frame));
        expect(store.messages.map((message) => message.seq)).toEqual(finals.map((frame) => frame.seq));
        expect(store.messages.every((message) => !message.streaming && !message.pending)).toBe(true);
      }),
    );
  });

  it('should ack a pending message with its stored id and seq, and mark refusals', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.addPending({ type: 'user_message', sender: 'user', content: 'hi', clientId: 'a' });
    store.addPending({ type: 'user_message', sender: 'user', content: 'too long', clientId: 'b' });
    store.ack('a', 'id-a', 1);
    store.fail('b', 'MESSAGE_TOO_LONG');
    expect(store.messages.map((message) => [message.pending, message.seq, message.failed])).toEqual([
      [false, 1, undefined],
      [true, undefined, 'MESSAGE_TOO_LONG'],
    ]);
  });

  it('should keep a help request apart from the system message answering it with the same client_id', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.addPending({ type: 'help_request', sender: 'system', content: 'Help requested', clientId: 'h' });
    store.ack('h', 'id-h', 1);
    store.apply({
      type: 'system_message',
      session_id: SESSION,
      seq: 2,
      id: 'm',
      client_id: 'h',
      sender: 'system',
      content: 'Someone will join',
    });
    store.apply({
      type: 'help_request',
      session_id: SESSION,
      seq: 1,
      id: 'id-h',
      client_id: 'h',
      sender: 'user',
    });
    expect(store.messages.map((message) => [message.type, message.sender, message.seq])).toEqual([
      ['help_request', 'system', 1],
      ['system_message', 'system', 2],
    ]);
  });

  it('should show a voice message by its transcript and a takeover by the admin name', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply({
      type: 'voice_message',
      session_id: SESSION,
      seq: 1,
      id: 'v',
      sender: 'user',
      content: 'hello',
      file_id: 'f',
      file_url: '/chat/files/f',
      metadata: { transcript: 'hello', file: { name: 'v.webm', mime_type: 'audio/webm', size: 10 } },
    });
    store.apply({
      type: 'admin_join',
      session_id: SESSION,
      seq: 2,
      id: 'j',
      sender: 'admin',
      metadata: { admin_name: 'Ada' },
    });
    const [voice, join] = store.messages;
    expect(voice).toMatchObject({
      content: '',
      transcript: 'hello',
      attachment: { url: '/chat/files/f', mimeType: 'audio/webm', name: 'v.webm' },
    });
    expect(join).toMatchObject({ sender: 'system', content: 'Ada joined the conversation' });
  });

  // the assisting admin's file (docs/protocol.md, "Takeover"): the admin's, with its file and caption
  it("should show an assisting admin's file as the admin's message, with its file and caption", () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply({
      type: 'file_upload',
      session_id: SESSION,
      seq: 3,
      id: 'a',
      client_id: 'af',
      sender: 'admin',
      content: 'here it is',
      file_id: 'f',
      file_url: '/chat/files/f',
      metadata: { admin_name: 'Ada', file: { name: 'a.png', mime_type: 'image/png', size: 10 } },
    });
    expect(store.messages).toMatchObject([
      {
        sender: 'admin',
        content: 'here it is',
        metadata: { admin_name: 'Ada' },
        attachment: { fileId: 'f', url: '/chat/files/f', mimeType: 'image/png', name: 'a.png', size: 10 },
      },
    ]);
  });
});

describe(`${ChatStore.name} resume point`, () => {
  const stored = (seq: number): Frame => ({
    type: 'user_message',
    session_id: SESSION,
    seq,
    id: `m${seq}`,
    sender: 'user',
    content: `message ${seq}`,
  });

  it('should resume after the contiguous seqs it holds, not after a seq that came past a gap', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    for (const seq of [1, 2, 4]) store.apply(stored(seq));
    // seq 3 never came: a reconnect from 4 would skip it for good
    expect(store.lastSeq).toBe(2);
    expect(store.hasGap).toBe(true);
    store.apply(stored(3));
    expect(store.lastSeq).toBe(4);
    expect(store.hasGap).toBe(false);
  });

  it("should not move past a gap when the user's own ack overtakes another device's message", () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(stored(1));
    store.addPending({ type: 'user_message', sender: 'user', content: 'mine', clientId: 'c' });
    store.ack('c', 'mine', 3);
    expect(store.lastSeq).toBe(1);
    store.apply(stored(2));
    expect(store.lastSeq).toBe(3);
  });

  it('should hold every seq up to its resume point, whatever order the seqs come in', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 30 }), (seqs) => {
        const store = new ChatStore();
        store.reset(SESSION);
        for (const seq of seqs) store.apply(stored(seq));
        const held = new Set(seqs);
        for (let seq = 1; seq <= store.lastSeq; seq++) expect(held.has(seq)).toBe(true);
        expect(held.has(store.lastSeq + 1)).toBe(false);
      }),
    );
  });
});

describe(`${ChatStore.name} replies cut off by an instance that died`, () => {
  const question: Frame = {
    type: 'user_message',
    session_id: SESSION,
    seq: 1,
    id: 'q',
    sender: 'user',
    content: 'why?',
  };
  const delta = (id: string, text: string, offset: number, seq = 1): Frame => ({
    type: 'ai_response',
    session_id: SESSION,
    seq,
    id,
    sender: 'ai',
    metadata: { delta: text, offset, done: false },
  });
  const final = (
    id: string,
    seq: number,
    content: string,
    metadata: Record<string, unknown> = {},
  ): Frame => ({
    type: 'ai_response',
    session_id: SESSION,
    seq,
    id,
    sender: 'ai',
    content,
    metadata: { done: true, ...metadata },
  });
  const shown = (store: ChatStore) =>
    store.messages.map((message) => [message.id, message.content, message.streaming]);

  it('should drop a half-streamed reply once the turn is answered again under a new id', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(question);
    store.apply(delta('r1', 'Because ', 0));
    // its instance was killed; after the reconnect the turn is answered again (docs/protocol.md,
    // "Every acked turn ends"), as a new reply
    store.apply(delta('r2', 'Well, ', 0));
    expect(shown(store)).toEqual([
      ['q', 'why?', false],
      ['r2', 'Well, ', true],
    ]);
    // a piece of the dead reply still on its way does not bring it back
    store.apply(delta('r1', 'the sky', 8));
    store.apply(final('r2', 2, 'Well, because.'));
    expect(shown(store)).toEqual([
      ['q', 'why?', false],
      ['r2', 'Well, because.', false],
    ]);
    expect(store.streaming).toBeUndefined();
  });

  it('should drop it when the answer stored meanwhile comes with the replay', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(question);
    store.apply(delta('r1', 'Because ', 0));
    store.apply(final('r2', 2, 'Well, because.'));
    expect(shown(store)).toEqual([
      ['q', 'why?', false],
      ['r2', 'Well, because.', false],
    ]);
  });

  it('should keep streaming a regenerated reply when the reply it replaces is replayed', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(question);
    // the turn's first reply is stored at seq 2; its alternative streams after it
    store.apply(delta('r2', 'Other', 0, 2));
    store.apply(final('r1', 2, 'First.'));
    store.apply(delta('r2', ' answer', 5, 2));
    expect(store.streaming).toMatchObject({ id: 'r2', content: 'Other answer' });
  });

  it('should take the stored copy of a reply the client had given up on', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(question);
    store.apply(delta('r1', 'Because ', 0));
    store.apply(delta('r2', 'Well', 0));
    // two instances answered at once after all: the first reply's stored copy is shown
    store.apply(final('r1', 2, 'Because.'));
    expect(store.messages.find((message) => message.id === 'r1')).toMatchObject({
      content: 'Because.',
      streaming: false,
      seq: 2,
    });
  });

  it('should end a cut-off reply when an admin takes the session over', () => {
    const store = new ChatStore();
    store.reset(SESSION);
    store.apply(question);
    store.apply(delta('r1', 'Because ', 0));
    store.apply({ type: 'admin_join', session_id: SESSION, seq: 2, id: 'j', sender: 'admin', metadata: {} });
    expect(store.streaming).toBeUndefined();
    expect(store.messages.map((message) => message.id)).toEqual(['q', 'j']);
  });
});

describe('parseAttachments', () => {
  it('should keep a file the server dropped as why, without a link', () => {
    expect(
      parseAttachments([
        { kind: 'image', source: 'ai', dropped: 'infected' },
        { kind: 'audio', source: 'tts', dropped: 'quota' },
      ]),
    ).toEqual([
      { dropped: 'infected', source: 'ai', mimeType: 'image/*' },
      { dropped: 'quota', source: 'tts', mimeType: 'audio/*' },
    ]);
  });

  it('should read stored files and external links, and ignore the rest', () => {
    expect(
      parseAttachments([
        { kind: 'audio', source: 'tts', file_url: '/chat/files/a', mime_type: 'audio/wav' },
        { kind: 'image', source: 'ai', file_url: 'https://vendor.example/x.png', external: true },
        { kind: 'file' },
        '/chat/files/b',
      ]),
    ).toEqual([
      {
        url: '/chat/files/a',
        mimeType: 'audio/wav',
        source: 'tts',
        external: false,
        fileId: undefined,
        name: undefined,
        size: undefined,
      },
      {
        url: 'https://vendor.example/x.png',
        mimeType: 'image/*',
        source: 'ai',
        external: true,
        fileId: undefined,
        name: undefined,
        size: undefined,
      },
      { url: '/chat/files/b', external: false },
    ]);
    expect(parseAttachments('x')).toBeUndefined();
  });

  it('should take a path that leaves the server (//host, /\\host) for an external link, never our file', () => {
    const parsed = parseAttachments([
      '//evil.example/x.png',
      '/\\evil.example/x.png',
      { kind: 'image', file_url: '//evil.example/y.png' },
      '/chat/files/c',
    ]);
    expect(parsed?.map((attachment) => [attachment.url, attachment.external])).toEqual([
      ['//evil.example/x.png', true],
      ['/\\evil.example/x.png', true],
      ['//evil.example/y.png', true],
      ['/chat/files/c', false],
    ]);
  });

  it('should leave out a file whose URL is no web link (a vendor sent javascript: or data:)', () => {
    expect(
      parseAttachments([
        { kind: 'image', source: 'ai', file_url: 'javascript:window.top.x=1', external: true },
        { kind: 'image', source: 'ai', file_url: ' JaVaScRiPt:alert(1)', external: true },
        { kind: 'file', source: 'ai', file_url: 'data:text/html,<script>alert(1)</script>' },
        'vbscript:msgbox(1)',
        { kind: 'image', source: 'ai', file_url: 'HTTPS://vendor.example/x.png', external: true },
        'http://vendor.example/y.pdf',
      ])?.map((attachment) => attachment.url),
    ).toEqual(['HTTPS://vendor.example/x.png', 'http://vendor.example/y.pdf']);
    expect(parseAttachments(['javascript:alert(1)'])).toBeUndefined();
  });
});

describe(isNewAnswer.name, () => {
  it('should count final replies and admin messages after the last seq shown, not deltas or joins', () => {
    expect(isNewAnswer({ type: 'ai_response', seq: 5, metadata: { done: true } }, 4)).toBe(true);
    expect(isNewAnswer({ type: 'ai_response', metadata: { done: false, delta: 'x' } }, 4)).toBe(false);
    expect(isNewAnswer({ type: 'ai_response', seq: 4, metadata: { done: true } }, 4)).toBe(false);
    expect(isNewAnswer({ type: 'user_message', sender: 'admin', seq: 6 }, 4)).toBe(true);
    expect(isNewAnswer({ type: 'admin_join', sender: 'admin', seq: 6 }, 4)).toBe(false);
    expect(isNewAnswer({ type: 'user_message', sender: 'user', seq: 6 }, 4)).toBe(false);
  });
});

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
});

describe('parseAttachments', () => {
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

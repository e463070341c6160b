import fc from 'fast-check';
import { CLIENT_MESSAGE_TYPES } from './frames';
import { isRoomClientFrame, mentionsAi, ROOM_CLIENT_TYPES } from './rooms';

describe(isRoomClientFrame.name, () => {
  it("should send a `read` to the rooms only when it names a room (else it is the AI chat's receipt)", () => {
    expect(isRoomClientFrame({ type: 'read', room_id: 'r1', seq: 3 })).toBe(true);
    expect(isRoomClientFrame({ type: 'read', id: 'm-8', client_id: 'c' })).toBe(false);
    expect(isRoomClientFrame({ type: 'chat', content: 'hi' })).toBe(true);
    expect(isRoomClientFrame({ type: 'user_message', room_id: 'r1' })).toBe(false);
    expect(isRoomClientFrame(null)).toBe(false);
    expect(isRoomClientFrame('read')).toBe(false);
  });

  it('should give every frame to exactly the protocol that has its type', () => {
    const types = [...new Set<string>([...ROOM_CLIENT_TYPES, ...CLIENT_MESSAGE_TYPES, 'other'])];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.option(fc.string(), { nil: undefined }), (type, roomId) => {
        const frame = roomId === undefined ? { type } : { type, room_id: roomId };
        const room = (ROOM_CLIENT_TYPES as readonly string[]).includes(type);
        const chat = (CLIENT_MESSAGE_TYPES as readonly string[]).includes(type);
        const expected = room && (!chat || roomId !== undefined);
        expect(isRoomClientFrame(frame)).toBe(expected);
      }),
    );
  });
});

describe(mentionsAi.name, () => {
  it('should find @ai as a word of its own, in any case, with punctuation after it', () => {
    for (const text of [
      '@ai',
      '@ai what is 2+2?',
      'hey @AI, help',
      'ask (@ai)',
      'thanks @ai.',
      'x\n@Ai: go',
      '"@ai"',
    ])
      expect(mentionsAi(text)).toBe(true);
  });

  it('should not take an address, a longer handle or a word with @ai inside it for a mention', () => {
    for (const text of [
      'mail me at bob@ai.com',
      '@aim high',
      '@ai_bot',
      '@ai-team',
      'x@ai',
      '@@ai',
      'a i',
      '',
      '@a i',
    ])
      expect(mentionsAi(text)).toBe(false);
  });

  it('should find a mention wherever it stands between separators, and never throw', () => {
    const separator = fc.constantFrom(' ', '\n', '\t', ', ', '(', ')', '!', '?', '. ');
    const word = fc.stringMatching(/^[a-z0-9 ]{0,20}$/);
    fc.assert(
      fc.property(
        word,
        separator,
        fc.constantFrom('@ai', '@AI', '@Ai'),
        separator,
        word,
        (a, s1, at, s2, b) => {
          expect(mentionsAi(`${a}${s1}${at}${s2}${b}`)).toBe(true);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        // a text without the two letters after an @ never mentions the AI
        const result = mentionsAi(text);
        if (!/@ai/i.test(text)) expect(result).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('should not mention the AI when @ai is glued to a word character on either side', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('a', 'Z', '0', '_', 'é'),
        fc.constantFrom('a', 'Z', '0', '_', '-', 'é'),
        (before, after) => {
          expect(mentionsAi(`${before}@ai`)).toBe(false);
          expect(mentionsAi(`@ai${after}`)).toBe(false);
        },
      ),
    );
  });
});

import fc from 'fast-check';
import { STORED_EVENT_TYPES } from '../../protocol/frames';
import { openTurnAfter } from '../sessions/session-rules';
import type { MessageRecord } from '../sessions/session.types';
import { unansweredUserTurn } from './unanswered-turn';

const record = (
  type: MessageRecord['type'],
  sender: MessageRecord['sender'],
  content?: string,
): MessageRecord => ({
  id: `${type}-${sender}-${Math.random()}`,
  seq: 0,
  type,
  sender,
  content,
  timestamp: new Date(0),
});

describe(unansweredUserTurn.name, () => {
  it('should find the question the admin left unanswered, past takeover and help events', () => {
    const question = record('user_message', 'user', 'anyone there?');
    const history = [
      record('user_message', 'user', 'hi'),
      record('ai_response', 'ai', 'hello'),
      record('help_request', 'user'),
      record('admin_join', 'admin'),
      question,
      record('file_upload', 'user'),
      record('admin_leave', 'admin'),
    ];
    expect(unansweredUserTurn(history)).toBe(question);
  });

  it('should find nothing when an admin or the AI spoke after the user', () => {
    expect(
      unansweredUserTurn([record('user_message', 'user', 'q'), record('user_message', 'admin', 'a')]),
    ).toBeUndefined();
    expect(
      unansweredUserTurn([record('voice_message', 'user', 'q'), record('ai_response', 'ai', 'a')]),
    ).toBeUndefined();
    expect(
      unansweredUserTurn([record('admin_join', 'admin'), record('admin_leave', 'admin')]),
    ).toBeUndefined();
  });

  it('should only ever return a user turn that nothing answered', () => {
    const types = STORED_EVENT_TYPES;
    const senders: Array<MessageRecord['sender']> = ['user', 'admin', 'ai', 'system'];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...types),
            fc.constantFrom(...senders),
            fc.option(fc.string(), { nil: undefined }),
          ),
        ),
        (entries) => {
          const history = entries.map(([type, sender, content]) => record(type, sender, content));
          const found = unansweredUserTurn(history);
          if (!found) return;
          expect(found.sender).toBe('user');
          const after = history.slice(history.indexOf(found) + 1);
          expect(after.some((message) => message.type === 'ai_response')).toBe(false);
          expect(after.some((message) => message.type === 'user_message' && message.sender !== 'user')).toBe(
            false,
          );
        },
      ),
    );
  });

  it("should agree with the session head's open turn, kept append by append", () => {
    const senders: Array<MessageRecord['sender']> = ['user', 'admin', 'ai', 'system'];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...STORED_EVENT_TYPES),
            fc.constantFrom(...senders),
            fc.option(fc.string(), { nil: undefined }),
          ),
        ),
        (entries) => {
          const history = entries.map(([type, sender, content], index) => ({
            ...record(type, sender, content),
            seq: index + 1,
          }));
          // what the repository's appends leave in `open_turn_seq` (a new session starts at null)
          let head: number | null = null;
          for (const message of history) {
            const effect = openTurnAfter(message, message.seq);
            if (effect !== undefined) head = effect;
          }
          expect(head).toBe(unansweredUserTurn(history)?.seq ?? null);
        },
      ),
    );
  });
});

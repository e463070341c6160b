import fc from 'fast-check';
import { STORED_EVENT_TYPES } from '../../protocol/frames';
import { buildThread, versionRoot } from '../../protocol/thread';
import { hasOpenTurn, openTurnAfter, turnHeadAfter, type TurnHead } from '../sessions/session-rules';
import type { MessageRecord } from '../sessions/session.types';
import { unansweredUserTurn, unansweredUserTurns } from './unanswered-turn';

// numbered as stored, in log order (the same objects)
const inOrder = (history: MessageRecord[]): MessageRecord[] => {
  history.forEach((message, index) => (message.seq = index + 1));
  return history;
};
let stored = 0;
const record = (
  type: MessageRecord['type'],
  sender: MessageRecord['sender'],
  content?: string,
): MessageRecord => ({
  id: `${type}-${sender}-${Math.random()}`,
  // in log order, as stored
  seq: ++stored,
  type,
  sender,
  content,
  timestamp: new Date(0),
});

describe(unansweredUserTurn.name, () => {
  it('should find the question the admin left unanswered, past takeover and help events', () => {
    const question = record('user_message', 'user', 'anyone there?');
    const history = inOrder([
      record('user_message', 'user', 'hi'),
      record('ai_response', 'ai', 'hello'),
      record('help_request', 'user'),
      record('admin_join', 'admin'),
      question,
      record('file_upload', 'user'),
      record('admin_leave', 'admin'),
    ]);
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

  // a session's log with replies that name their turn, in any order (a fast client's turns stored
  // before their replies; a turn whose reply failed; a reply stored after a later turn's)
  const event = fc.record({
    kind: fc.constantFrom('turn', 'bare', 'reply', 'reply', 'legacy', 'admin', 'notice'),
    pick: fc.nat(20),
  });
  const logOf = (events: Array<{ kind: string; pick: number }>) => {
    const history: MessageRecord[] = [];
    const answers = new Map<MessageRecord, MessageRecord>();
    for (const { kind, pick } of events) {
      const turns = history.filter((message) => typeof openTurnAfter(message, message.seq) === 'number');
      if (kind === 'turn') history.push(record('user_message', 'user', 'q'));
      else if (kind === 'bare') history.push(record('file_upload', 'user'));
      else if (kind === 'legacy') history.push(record('ai_response', 'ai', 'a'));
      else if (kind === 'admin') history.push(record('user_message', 'admin', 'a'));
      else if (kind === 'notice') history.push(record('help_request', 'user'));
      else if (turns.length > 0) {
        const turn = turns[pick % turns.length];
        const reply = { ...record('ai_response', 'ai', 'a'), metadata: { reply_to: turn.id } };
        history.push(reply);
        answers.set(reply, turn);
      }
    }
    inOrder(history);
    // the named turn's index in the log as it is then (edits may be put in later)
    const answered = (message: MessageRecord) => {
      const turn = answers.get(message);
      return turn === undefined ? undefined : history.indexOf(turn);
    };
    return { history, answers: answered };
  };

  it('should find every turn that no reply naming it or a later turn, no admin and no older reply answered', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        const { history, answers } = logOf(events);
        const expected = history.filter((turn, index) => {
          if (typeof openTurnAfter(turn, turn.seq) !== 'number') return false;
          return !history.slice(index + 1).some((later) => {
            const named = answers(later);
            if (named !== undefined) return named >= index;
            return later.type === 'ai_response' || (later.type === 'user_message' && later.sender !== 'user');
          });
        });
        expect(unansweredUserTurns(history)).toEqual(expected);
      }),
    );
  });

  it("should agree with the session head's turn fields, kept append by append", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), fc.array(fc.nat(40)), (events, edits) => {
        const { history, answers } = logOf(events);
        // and edits of the last typed message: the turns they replace are no longer owed
        for (const at of edits.filter((at) => at < history.length).sort((x, y) => y - x)) {
          const last = buildThread(history.slice(0, at))
            .current.filter((message) => message.type === 'user_message' && message.sender === 'user')
            .at(-1);
          if (last) {
            const edit = record('user_message', 'user', 'edited');
            history.splice(at, 0, { ...edit, metadata: { edit_of: versionRoot(last) } });
          }
        }
        inOrder(history);
        let head: TurnHead = { open_turn_seq: null, answered_turn_seq: null };
        for (const message of history) {
          const named = answers(message);
          head = turnHeadAfter(head, message, message.seq, named === undefined ? undefined : named + 1);
        }
        const open = unansweredUserTurns(history);
        expect(hasOpenTurn(head)).toBe(open.length > 0);
        if (open.length > 0) expect(head.open_turn_seq).toBe(open.at(-1)?.seq);
      }),
    );
  });

  // protocol.md, "Versions": an edit replaces the version it edits and what followed it. A reply to
  // that version, asked for after the edit (its request waited for another instance's reply, or the
  // turn's reply had failed there), was stored under the edited turn beside the edit's own: two
  // replies in the turn (the library audit).
  it('should owe no answer to a turn an edit replaced, only to the edit', () => {
    const first = record('user_message', 'user', 'q1');
    const reply = { ...record('ai_response', 'ai', 'a1'), metadata: { reply_to: first.id } };
    const asked = record('user_message', 'user', 'q2');
    const voice = record('voice_message', 'user', 'v');
    const edit = { ...record('user_message', 'user', 'q2 again'), metadata: { edit_of: asked.id } };
    const again = { ...record('user_message', 'user', 'q2 third'), metadata: { edit_of: asked.id } };
    expect(unansweredUserTurns(inOrder([first, reply, asked, voice, edit]))).toEqual([edit]);
    expect(unansweredUserTurns(inOrder([first, reply, asked, edit, again]))).toEqual([again]);
    // an older turn the edit did not replace is still owed
    expect(unansweredUserTurns(inOrder([first, asked, edit]))).toEqual([first, edit]);
  });
});

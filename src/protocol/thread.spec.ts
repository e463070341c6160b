import fc from 'fast-check';
import { buildThread, type LogEntry } from './thread';

type Op =
  | { kind: 'say' }
  | { kind: 'answer' }
  // a reply to the oldest turn still unanswered, naming it (a fast client's turns are all stored
  // before their replies)
  | { kind: 'answerOldest' }
  | { kind: 'regen' }
  | { kind: 'edit' }
  | { kind: 'select'; turn: number; pick: number };

// A reference model of the conversation (turns, each with its versions and alternatives) and the log
// the server would have appended for the same operations.
function simulate(ops: Op[]): { log: LogEntry[]; expected: string[] } {
  const log: LogEntry[] = [];
  const turns: Array<{ root: string; user: string; replies: string[]; chosen: number }> = [];
  let next = 0;
  const id = () => `m${next++}`;
  for (const op of ops) {
    const last = turns.at(-1);
    if (op.kind === 'say') {
      const user = id();
      log.push({ id: user, type: 'user_message' });
      turns.push({ root: user, user, replies: [], chosen: -1 });
    } else if (op.kind === 'answer' && last && last.replies.length === 0) {
      const reply = id();
      log.push({ id: reply, type: 'ai_response' });
      last.replies.push(reply);
      last.chosen = 0;
    } else if (op.kind === 'answerOldest') {
      const turn = turns.find((candidate) => candidate.replies.length === 0);
      if (!turn) continue;
      const reply = id();
      log.push({ id: reply, type: 'ai_response', metadata: { reply_to: turn.user } });
      turn.replies.push(reply);
      turn.chosen = 0;
    } else if (op.kind === 'regen' && last && last.replies.length > 0) {
      const reply = id();
      log.push({ id: reply, type: 'ai_response', metadata: { alternative_of: last.replies[0] } });
      last.replies.push(reply);
      last.chosen = last.replies.length - 1;
    } else if (op.kind === 'edit' && last) {
      const user = id();
      log.push({ id: user, type: 'user_message', metadata: { edit_of: last.root } });
      turns[turns.length - 1] = { root: last.root, user, replies: [], chosen: -1 };
    } else if (op.kind === 'select' && turns.length > 0) {
      const turn = turns[op.turn % turns.length];
      if (turn.replies.length === 0) continue;
      turn.chosen = op.pick % turn.replies.length;
      log.push({ id: id(), type: 'reply_select', metadata: { reply_id: turn.replies[turn.chosen] } });
    }
  }
  const expected = turns.flatMap((turn) => [
    turn.user,
    ...(turn.chosen >= 0 ? [turn.replies[turn.chosen]] : []),
  ]);
  return { log, expected };
}

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ kind: 'say' as const }),
  fc.constant({ kind: 'answer' as const }),
  fc.constant({ kind: 'answerOldest' as const }),
  fc.constant({ kind: 'regen' as const }),
  fc.constant({ kind: 'edit' as const }),
  fc.record({ kind: fc.constant('select' as const), turn: fc.nat(20), pick: fc.nat(20) }),
);

describe(buildThread.name, () => {
  it('should read the conversation as the reference model of turns does, for any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { log, expected } = simulate(ops);
        expect(buildThread(log).current.map((entry) => entry.id)).toEqual(expected);
      }),
    );
  });

  it('should keep every version and every alternative, in log order', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { log } = simulate(ops);
        const thread = buildThread(log);
        const kept = [...thread.versions.values(), ...thread.alternatives.values()].flat();
        expect(kept).toHaveLength(log.filter((entry) => entry.type !== 'reply_select').length);
        for (const list of [...thread.versions.values(), ...thread.alternatives.values()])
          expect(list.map((entry) => log.indexOf(entry))).toEqual(
            [...list].map((entry) => log.indexOf(entry)).sort((a, b) => a - b),
          );
      }),
    );
  });

  it('should give back a log without versions unchanged', () => {
    const log = [
      { id: 'a', type: 'user_message' },
      { id: 'b', type: 'ai_response' },
      { id: 'c', type: 'admin_join' },
    ];
    expect(buildThread(log).current).toEqual(log);
  });

  it('should read each reply right after the turn it names, when the turns were stored first', () => {
    const log = [
      { id: 'u1', type: 'user_message' },
      { id: 'u2', type: 'user_message' },
      { id: 'u3', type: 'user_message' },
      { id: 'r1', type: 'ai_response', metadata: { reply_to: 'u1' } },
      { id: 'r2', type: 'ai_response', metadata: { reply_to: 'u2' } },
    ];
    expect(buildThread(log).current.map((entry) => entry.id)).toEqual(['u1', 'r1', 'u2', 'r2', 'u3']);
  });

  it('should ignore a selection of a reply that does not exist', () => {
    const log = [
      { id: 'a', type: 'user_message' },
      { id: 'b', type: 'ai_response' },
      { id: 'c', type: 'reply_select', metadata: { reply_id: 'zzz' } },
    ];
    expect(buildThread(log).current.map((entry) => entry.id)).toEqual(['a', 'b']);
  });
});

import fc from 'fast-check';
import { buildThread, isTurn } from '../../protocol/thread';
import type { MessageRecord } from '../sessions/session.types';
import { ownTurnLog, upToTurn } from './reply-prompt';

function message(seq: number, type: string, metadata?: Record<string, unknown>): MessageRecord {
  return {
    id: `m${seq}`,
    seq,
    type,
    sender: type === 'ai_response' ? 'ai' : 'user',
    content: `text ${seq}`,
    timestamp: new Date(0),
    metadata,
  } as MessageRecord;
}

describe('ReplyPrompt (the turn a reply answers)', () => {
  it('should read the conversation up to its own turn when later turns were stored before it', () => {
    // m1, m2, m3 stored back to back, then m1's reply: m2's reply reads m1, its reply, m2
    const log = [
      message(1, 'user_message'),
      message(2, 'user_message'),
      message(3, 'user_message'),
      message(4, 'ai_response', { reply_to: 'm1' }),
    ];
    const events = buildThread(ownTurnLog(log, 2)).current;
    expect(events.map((event) => event.id)).toEqual(['m1', 'm4', 'm2']);
    expect(events.findLast(isTurn)?.id).toBe('m2');
  });

  it('should leave the replaced reply and anything after it out of a regeneration', () => {
    const log = [
      message(1, 'user_message'),
      message(2, 'ai_response', { reply_to: 'm1' }),
      message(3, 'user_message'),
      message(4, 'ai_response', { reply_to: 'm3' }),
    ];
    expect(upToTurn(buildThread(log).current, 'm2').map((event) => event.id)).toEqual(['m1']);
  });

  it('should end every prompt with its own turn, for any order of turns and in-order replies', () => {
    // n turns, each reply stored after some later turns (never before its own turn, in turn order)
    fc.assert(
      fc.property(fc.array(fc.nat(3), { minLength: 1, maxLength: 12 }), (lags) => {
        const log: MessageRecord[] = [];
        let seq = 0;
        const turns: MessageRecord[] = [];
        let answered = 0;
        const answer = () => {
          const turn = turns[answered++];
          log.push(message(++seq, 'ai_response', { reply_to: turn.id }));
        };
        for (const lag of lags) {
          const turn = message(++seq, 'user_message');
          log.push(turn);
          turns.push(turn);
          while (turns.length - answered > lag) answer();
        }
        while (answered < turns.length) answer();
        for (const turn of turns) {
          const events = buildThread(ownTurnLog(log, turn.seq)).current;
          expect(events.findLast(isTurn)?.id).toBe(turn.id);
          expect(events.at(-1)?.id === turn.id || events.at(-1)?.type === 'ai_response').toBe(true);
          // each earlier turn is followed by its own reply
          const ids = events.map((event) => event.id);
          for (const earlier of turns.filter((candidate) => candidate.seq < turn.seq)) {
            const reply = log.find((entry) => entry.metadata?.reply_to === earlier.id);
            expect(ids.indexOf(reply!.id)).toBe(ids.indexOf(earlier.id) + 1);
          }
        }
      }),
    );
  });
});

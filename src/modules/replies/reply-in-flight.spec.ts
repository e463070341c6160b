import type { MessageRecord } from '../sessions/session.types';
import { notAnswered, OPEN_TURN_WAIT_MS, type RepliesOfSession } from './reply-in-flight';

// docs/protocol.md, "Versions": an edit is refused while a reply of the session is being made on
// any instance, or while a turn of its log is open and an instance takes it up within the wait.
describe(notAnswered.name, () => {
  const event = (seq: number, type: 'user_message' | 'ai_response', replyTo?: string): MessageRecord => ({
    id: `e${seq}`,
    seq,
    type,
    sender: type === 'user_message' ? 'user' : 'ai',
    content: 'x',
    timestamp: new Date(0),
    ...(replyTo ? { metadata: { reply_to: replyTo } } : {}),
  });
  const answered = [event(1, 'user_message'), event(2, 'ai_response', 'e1')];
  const open = [...answered, event(3, 'user_message')];
  // a lease that shows up `afterMs` from now (never: undefined)
  const replies = (afterMs: number | undefined, shared = true) => {
    const start = Date.now();
    const asked: number[] = [];
    const probe: RepliesOfSession = {
      shared,
      answeringAnywhere: async () => {
        asked.push(Date.now() - start);
        return afterMs !== undefined && Date.now() - start >= afterMs;
      },
    };
    return { probe, asked };
  };

  it('should refuse at once while a reply is being made anywhere', async () => {
    const { probe, asked } = replies(0);
    await expect(notAnswered('s', answered, probe)).rejects.toThrow('Wait for the reply');
    expect(asked).toHaveLength(1);
  });

  it('should take it at once when every turn of the log is answered and none is being made', async () => {
    const { probe, asked } = replies(undefined);
    await notAnswered('s', answered, probe);
    expect(asked).toHaveLength(1);
  });

  it('should refuse when an instance takes up the open turn within the wait', async () => {
    // a reply that waited for another instance's claims the lease within its poll
    const { probe } = replies(60);
    await expect(notAnswered('s', open, probe)).rejects.toThrow('Wait for the reply');
  });

  it('should take it once the wait is over and nobody took the open turn up', async () => {
    const { probe, asked } = replies(undefined);
    const start = Date.now();
    await notAnswered('s', open, probe);
    expect(Date.now() - start).toBeGreaterThanOrEqual(OPEN_TURN_WAIT_MS - 5);
    expect(asked.length).toBeGreaterThan(2);
  });

  it('should not wait with one instance: a reply is asked for here at once', async () => {
    const { probe, asked } = replies(undefined, false);
    await notAnswered('s', open, probe);
    expect(asked).toHaveLength(1);
  });
});

import fc from 'fast-check';
import { buildThread, isTurn } from '../../protocol/thread';
import type { ContextWindow } from '../llm/context-window';
import type { ModelEntry } from '../llm/llm.registry';
import type { MessageRecord } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import { FileContextService } from '../uploads/file-context.service';
import type { FilesService } from '../uploads/files.service';
import { ownTurnLog, ReplyPrompt, upToTurn } from './reply-prompt';

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

// The takeover audit of session 44: once the takeover ended, the assisting admin's text file in the
// session was read as the user's and put to the model as the user's, gone (3 of 3 runs).
describe('ReplyPrompt (the files of the session)', () => {
  it("should put the assisting admin's file to the model as the admin's turn, read where it was sent", async () => {
    const log: MessageRecord[] = [
      {
        id: 'f1',
        seq: 1,
        type: 'file_upload',
        sender: 'admin',
        content: 'see this',
        file_id: 'file-a',
        timestamp: new Date(0),
        metadata: { file: { name: 'reset.txt', size: 8, mime_type: 'text/plain' }, admin_name: 'Ada' },
      },
      { ...message(2, 'user_message'), content: 'what code?' },
    ];
    const asked: unknown[] = [];
    const files = {
      readSentPrefix: (fileId: string, reader: unknown) => {
        asked.push([fileId, reader]);
        return Promise.resolve({ info: {}, data: Buffer.from('CODE-42\n') });
      },
      readPrefix: () => Promise.reject(new Error('read as the user')),
    } as unknown as FilesService;
    const sessions = {
      lastSeq: () => undefined,
      messagesAfter: () => Promise.resolve(log),
    } as unknown as SessionsService;
    const context = { fit: (prompt: unknown[]) => prompt } as unknown as ContextWindow;
    const prompt = new ReplyPrompt(sessions, context, new FileContextService(files));
    const entry = {
      settings: { context_tokens: 1000, max_tokens: 100 },
      provider: {},
    } as unknown as ModelEntry;
    const { messages } = await prompt.assemble({ sessionId: 's1', userId: 'u', modelId: 'gpt' }, entry);
    expect(asked).toEqual([['file-a', { userId: 'u', sessionId: 's1' }]]);
    expect(messages.map(({ role, content }) => ({ role, content }))).toEqual([
      {
        role: 'assistant',
        content:
          '[The admin Ada, a human colleague assisting this chat, sent the user the document "reset.txt" ' +
          '(text/plain, 8 bytes). Its text:]\nCODE-42\n\nsee this',
      },
      { role: 'user', content: 'what code?' },
    ]);
  });
});

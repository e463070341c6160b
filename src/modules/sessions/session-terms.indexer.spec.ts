import { BlindIndex } from '../../common/crypto/blind-index';
import { SessionTermsIndexer } from './session-terms.indexer';
import type { SessionTermsRepository } from './session-terms.repository';
import type { SessionWithMessages } from './session.types';

// A write whose lock is never taken (Redis away past the wait, a refused lock) must not leave its
// session marked as queued: the session's next reply queues a write again.
describe('SessionTermsIndexer', () => {
  it('should write a session again after a write whose lock was refused', async () => {
    const added: number[] = [];
    const terms = {
      indexedSeq: async () => 0,
      add: async (addition: { to: number }) => (added.push(addition.to), true),
    } as unknown as SessionTermsRepository;
    const indexer = new SessionTermsIndexer(terms, new BlindIndex(Buffer.alloc(32, 1)));
    let refuse = true;
    const session = (seq: number) =>
      ({
        id: 's',
        user_id: 'u',
        seq,
        last_activity: new Date(),
        messages: [
          { id: 'm', seq: 1, type: 'ai_response', sender: 'ai', content: 'okapi', timestamp: new Date() },
        ],
      }) as unknown as SessionWithMessages;
    indexer.attach({
      lock: async (_key, task) => {
        if (refuse) throw new Error('lock refused');
        return task();
      },
      log: async () => session(1),
    });
    const reply = {
      id: 'm',
      seq: 1,
      type: 'ai_response' as const,
      sender: 'ai' as const,
      content: 'okapi',
      timestamp: new Date(),
    };
    indexer.stored('s', reply);
    await indexer.flush();
    expect(added).toEqual([]);
    refuse = false;
    indexer.stored('s', reply);
    await indexer.flush();
    expect(added).toEqual([1]);
  });
});

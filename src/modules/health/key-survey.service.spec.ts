import fc from 'fast-check';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { unlistedKeyIds } from './key-survey.service';
import { valuesAt } from './stored-key-ids.repository';

describe('unlistedKeyIds', () => {
  const listed = new ContentCipher(Buffer.alloc(32, 3));
  const unlisted = new ContentCipher(Buffer.alloc(32, 4));

  it('should name a key id no listed key has, with the collections holding it', () => {
    const samples = [
      { collection: 'sessions', values: [listed.encrypt('a'), unlisted.encrypt('b')] },
      { collection: 'session_notes', values: [unlisted.encrypt('c'), 'not ciphertext'] },
    ];
    expect(unlistedKeyIds(samples, new Set([listed.currentKeyId]))).toEqual([
      { key_id: unlisted.currentKeyId, collections: ['sessions', 'session_notes'] },
    ]);
  });

  it('should never name a listed key, whatever else the sample holds', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), fc.array(fc.string()), (texts, junk) => {
        const values = [...texts.map((text) => listed.encrypt(text)), ...junk];
        const found = unlistedKeyIds([{ collection: 'c', values }], new Set([listed.currentKeyId]));
        return found.every((entry) => entry.key_id !== listed.currentKeyId);
      }),
    );
  });
});

describe('valuesAt', () => {
  it('should read the strings at a dotted path through arrays', () => {
    expect(valuesAt({ messages: [{ content: 'a' }, {}, { content: 'b' }] }, 'messages.content')).toEqual([
      'a',
      'b',
    ]);
    expect(valuesAt({ text: 5 }, 'text')).toEqual([]);
  });
});

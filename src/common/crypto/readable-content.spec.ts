import { Logger } from '@nestjs/common';
import { ContentCipher } from './content-cipher';
import { keyIdField, readable } from './readable-content';

describe('readable', () => {
  const old = new ContentCipher(Buffer.alloc(32, 1));
  const current = new ContentCipher(Buffer.alloc(32, 2));

  it('should give the text when a listed key wrote it', () => {
    expect(readable(current, current.encrypt('hello'), { field: 'content', message_id: 'm0' })).toBe('hello');
  });

  it('should give null and log decrypt_failed once per record, with the key id and never the ciphertext', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const stored = old.encrypt('secret words');
    const place = { field: 'content', session_id: 's1', message_id: `m-${Date.now()}` };
    expect(readable(current, stored, place)).toBeNull();
    expect(readable(current, stored, place)).toBeNull();
    expect(error).toHaveBeenCalledTimes(1);
    const [fields] = error.mock.calls[0] as [Record<string, unknown>];
    expect(fields).toMatchObject({ event: 'decrypt_failed', ...place, key_id: old.currentKeyId });
    expect(JSON.stringify(error.mock.calls)).not.toContain(stored.split('.')[2]);
    error.mockRestore();
  });

  it('should name a key id only from a well-formed value', () => {
    expect(keyIdField('abcdefgh.iv.body')).toEqual({ key_id: 'abcdefgh' });
    expect(keyIdField('plain text with no dots')).toEqual({});
  });
});

import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ContentCipher } from './content-cipher';
import { encryptedFileName, nameOf, withEncryptedFileName, withFileName } from './file-names';

describe('file names at rest', () => {
  const cipher = new ContentCipher(randomBytes(32));
  const name = fc.string({ minLength: 1 });
  const file = (text: string) => ({ file: { name: text, size: 3, mime_type: 'image/png' }, kind: 'text' });

  it('should store a message’s file name encrypted and give it back as it was', () => {
    fc.assert(
      fc.property(name, (text) => {
        const stored = withEncryptedFileName(file(text), cipher);
        const kept = stored?.file as Record<string, unknown>;
        expect(kept.name).toBeUndefined();
        expect(cipher.decrypt(encryptedFileName(stored) as string)).toBe(text);
        expect(kept).toMatchObject({ size: 3, mime_type: 'image/png' });
        expect(withFileName(stored, cipher)).toEqual(file(text));
      }),
    );
  });

  it('should read a plain name written before as it is, and leave metadata without a file alone', () => {
    fc.assert(
      fc.property(name, (text) => {
        expect(withFileName(file(text), cipher)).toEqual(file(text));
        expect(nameOf({ name: text }, cipher)).toBe(text);
        // a plain name that looks like ciphertext is still a plain name: never decrypted
        const lookalike = cipher.encrypt(text);
        expect(nameOf({ name: lookalike }, cipher)).toBe(lookalike);
        expect(withFileName({ file: { name: lookalike } }, cipher)).toEqual({ file: { name: lookalike } });
      }),
    );
    for (const metadata of [
      undefined,
      {},
      { typing: true },
      { file: null },
      { file: ['a'] },
      { file: { size: 1 } },
    ]) {
      expect(withEncryptedFileName(metadata as Record<string, unknown>, cipher)).toBe(metadata);
      expect(withFileName(metadata as Record<string, unknown>, cipher)).toBe(metadata);
    }
  });

  it('should read a record’s encrypted name before a plain one', () => {
    expect(nameOf({ encrypted_name: cipher.encrypt('new.png'), name: 'old.png' }, cipher)).toBe('new.png');
    expect(nameOf({}, cipher)).toBe('');
  });
});

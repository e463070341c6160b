import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ContentCipher, keyIdOf } from './content-cipher';

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function split(stored: string): { keyId: string; iv: string; body: string } {
  const [keyId, iv, body] = stored.split('.');
  return { keyId, iv, body };
}

function replaceAt(text: string, index: number, character: string): string {
  return `${text.slice(0, index)}${character}${text.slice(index + 1)}`;
}

describe(ContentCipher.name, () => {
  const key = randomBytes(32);
  const cipher = new ContentCipher(key);

  it('should decrypt to the original text when given any unicode string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string()),
        (plain) => {
          expect(cipher.decrypt(cipher.encrypt(plain))).toBe(plain);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should round trip an empty string and a long text', () => {
    expect(cipher.decrypt(cipher.encrypt(''))).toBe('');
    const long = '👋 héllo wörld '.repeat(5000);
    expect(cipher.decrypt(cipher.encrypt(long))).toBe(long);
  });

  it('should produce a different ciphertext each time when the same text is encrypted twice', () => {
    fc.assert(
      fc.property(fc.string(), (plain) => {
        const first = cipher.encrypt(plain);
        const second = cipher.encrypt(plain);
        expect(first).not.toBe(second);
        expect(split(first).iv).not.toBe(split(second).iv);
      }),
      { numRuns: 100 },
    );
  });

  it('should store "<keyId>.<iv>.<body>" with the current key id when encrypting', () => {
    const stored = cipher.encrypt('hello');
    const parts = split(stored);
    expect(stored.split('.')).toHaveLength(3);
    expect(parts.keyId).toBe(keyIdOf(key));
    expect(cipher.currentKeyId).toBe(keyIdOf(key));
    expect(Buffer.from(parts.iv, 'base64url')).toHaveLength(12);
  });

  it('should not contain the plaintext or its base64 when stored', () => {
    const readable = fc.stringMatching(/^[A-Za-z0-9_-]{12,80}$/);
    fc.assert(
      fc.property(readable, (plain) => {
        const stored = cipher.encrypt(plain);
        expect(stored).not.toContain(plain);
        expect(stored).not.toContain(Buffer.from(plain).toString('base64url').slice(0, 12));
      }),
      { numRuns: 200 },
    );
  });

  it('should throw when any character of the ciphertext body is changed', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 0, maxLength: 60 }),
        fc.nat(),
        fc.constantFrom(...BASE64URL_ALPHABET),
        (plain, position, replacement) => {
          const stored = cipher.encrypt(plain);
          const { keyId, iv, body } = split(stored);
          const index = position % body.length;
          const tampered = replaceAt(body, index, replacement);
          // the last base64 character can carry unused bits: only changes that alter the bytes count
          fc.pre(!Buffer.from(tampered, 'base64url').equals(Buffer.from(body, 'base64url')));
          expect(() => cipher.decrypt(`${keyId}.${iv}.${tampered}`)).toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should throw when any character of the iv is changed', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.nat(),
        fc.constantFrom(...BASE64URL_ALPHABET),
        (plain, position, replacement) => {
          const { keyId, iv, body } = split(cipher.encrypt(plain));
          const index = position % iv.length;
          fc.pre(iv[index] !== replacement);
          expect(() => cipher.decrypt(`${keyId}.${replaceAt(iv, index, replacement)}.${body}`)).toThrow();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('should throw when the stored form is malformed', () => {
    const { keyId, iv } = split(cipher.encrypt('hello'));
    expect(() => cipher.decrypt('')).toThrow();
    expect(() => cipher.decrypt('hello')).toThrow();
    expect(() => cipher.decrypt(`${keyId}.${iv}`)).toThrow();
    expect(() => cipher.decrypt(`${keyId}..`)).toThrow();
  });

  it('should throw when the key is not 32 bytes', () => {
    expect(() => new ContentCipher(randomBytes(16))).toThrow('32 bytes');
    expect(() => new ContentCipher(randomBytes(33))).toThrow('32 bytes');
  });

  describe('key rotation', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);

    it('should decrypt old text with a previous key when the current key has rotated', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (plain) => {
          const stored = new ContentCipher(oldKey).encrypt(plain);
          expect(new ContentCipher(newKey, [oldKey]).decrypt(stored)).toBe(plain);
        }),
        { numRuns: 100 },
      );
    });

    it('should throw on old text when the old key is not among the previous keys', () => {
      const stored = new ContentCipher(oldKey).encrypt('secret words');
      expect(() => new ContentCipher(newKey).decrypt(stored)).toThrow();
      expect(() => new ContentCipher(newKey, [randomBytes(32)]).decrypt(stored)).toThrow();
    });

    it('should encrypt new text with the current key when previous keys are configured', () => {
      const rotated = new ContentCipher(newKey, [oldKey]);
      const stored = rotated.encrypt('fresh');
      expect(split(stored).keyId).toBe(keyIdOf(newKey));
      expect(new ContentCipher(newKey).decrypt(stored)).toBe('fresh');
      expect(() => new ContentCipher(oldKey).decrypt(stored)).toThrow();
    });

    it('should throw when the key id matches but the key bytes are wrong', () => {
      const { iv, body } = split(new ContentCipher(oldKey).encrypt('secret words'));
      const other = new ContentCipher(newKey);
      expect(() => other.decrypt(`${other.currentKeyId}.${iv}.${body}`)).toThrow();
    });

    it('should re-encrypt old-key text with the current key, at the same length, and keep current text as is', () => {
      const rotated = new ContentCipher(newKey, [oldKey]);
      const old = new ContentCipher(oldKey).encrypt('secret words');
      expect(rotated.isCurrent(old)).toBe(false);
      const again = rotated.reencrypt(old);
      expect(rotated.isCurrent(again)).toBe(true);
      expect(again.length).toBe(old.length);
      expect(new ContentCipher(newKey).decrypt(again)).toBe('secret words');
      expect(rotated.reencrypt(again)).toBe(again);
    });
  });
});

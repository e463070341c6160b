import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

// AES-256-GCM for message content at rest. Stored form: "<keyId>.<iv>.<ciphertext+tag>" (base64url).
// The key id lets old rows be read after ENCRYPTION_KEY rotates (old keys in ENCRYPTION_KEY_PREVIOUS).
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

export class ContentCipher {
  private readonly keys = new Map<string, Buffer>();
  readonly currentKeyId: string;

  constructor(
    private readonly currentKey: Buffer,
    previousKeys: Buffer[] = [],
  ) {
    if (currentKey.length !== 32) throw new Error('encryption key must be 32 bytes');
    this.currentKeyId = keyIdOf(currentKey);
    for (const key of [currentKey, ...previousKeys]) this.keys.set(keyIdOf(key), key);
  }

  // whether a stored value was written with the current key (a rotation rewrites the others)
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${this.currentKeyId}.`);
  }

  reencrypt(stored: string): string {
    return this.isCurrent(stored) ? stored : this.encrypt(this.decrypt(stored));
  }

  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.currentKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${this.currentKeyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  decrypt(stored: string): string {
    const [keyId, ivText, bodyText] = stored.split('.');
    const key = this.keys.get(keyId);
    if (!key || ivText === undefined || bodyText === undefined)
      throw new Error('unknown encryption key or bad format');
    const body = Buffer.from(bodyText, 'base64url');
    if (body.length < TAG_BYTES) throw new Error('ciphertext too short');
    // a fixed tag length: GCM would otherwise accept truncated (forgeable) tags
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  }
}

import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { keyIdOf } from '../../common/crypto/content-cipher';
import { keyIdField } from '../../common/crypto/readable-content';
import { SETTINGS, type Settings } from '../../config/settings';
import { StoredKeyIdsRepository } from './stored-key-ids.repository';

// At start, the key ids a bounded sample of the store's encrypted fields was written with, against
// ENCRYPTION_KEY and ENCRYPTION_KEY_PREVIOUS: one in neither is logged as an error naming it
// (`encryption_key_unlisted`), so an operator who emptied ENCRYPTION_KEY_PREVIOUS too early, or
// mistyped a key, hears of it at once (docs/operations.md, "Rotating ENCRYPTION_KEY"). What it wrote
// is read as unreadable (readable-content.ts). Until the key-rotation audit of session 42 the app
// started without a word, and the first sign was a conversation that failed INTERNAL. A sample, not
// a proof: a clean result says nothing of the records it did not read.
@Injectable()
export class KeySurveyService implements OnApplicationBootstrap {
  private readonly logger = new Logger('key-rotation');

  constructor(
    private readonly stored: StoredKeyIdsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    // not awaited: the app must start while the store is away
    void this.survey().catch((error: unknown) =>
      this.logger.warn({ event: 'key_survey_failed', error: String(error) }, 'stored key ids not checked'),
    );
  }

  async survey(): Promise<Array<{ key_id: string; collections: string[] }>> {
    const listed = new Set(
      [this.settings.encryption.key, ...this.settings.encryption.previousKeys].map((key) => keyIdOf(key)),
    );
    const unlisted = unlistedKeyIds(await this.stored.sample(), listed);
    for (const { key_id: keyId, collections } of unlisted)
      this.logger.error(
        { event: 'encryption_key_unlisted', key_id: keyId, collections },
        'content in the store was written with a key in neither ENCRYPTION_KEY nor ENCRYPTION_KEY_PREVIOUS: it reads as unreadable until that key is listed again',
      );
    return unlisted;
  }
}

// the key ids of well-formed values that no listed key has, with the collections holding them
export function unlistedKeyIds(
  samples: Array<{ collection: string; values: string[] }>,
  listed: Set<string>,
): Array<{ key_id: string; collections: string[] }> {
  const found = new Map<string, Set<string>>();
  for (const { collection, values } of samples)
    for (const value of values) {
      const { key_id: keyId } = keyIdField(value);
      if (keyId === undefined || listed.has(keyId)) continue;
      found.set(keyId, (found.get(keyId) ?? new Set()).add(collection));
    }
  return [...found].map(([keyId, collections]) => ({ key_id: keyId, collections: [...collections] }));
}

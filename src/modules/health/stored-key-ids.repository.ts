import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';

// The encrypted fields of the store, each read on a bounded sample: enough to see a key id left
// behind (the oldest records come first in the store's natural order), never a scan. A session holds
// many messages: fewer of them.
const SAMPLED: Array<{ collection: string; path: string; limit: number }> = [
  { collection: 'sessions', path: 'messages.content', limit: 20 },
  { collection: 'chat_messages', path: 'content', limit: 200 },
  { collection: 'session_notes', path: 'text', limit: 200 },
  { collection: 'chat_reports', path: 'reason', limit: 200 },
  { collection: 'notifications', path: 'reason', limit: 200 },
  { collection: 'files', path: 'encrypted_name', limit: 200 },
];

// Reads (never writes) what encrypted values look like across collections, for KeySurveyService.
// A dotted projection (`messages.content`) and a plain `limit`: what FerretDB 1.24 serves
// (`$slice`, as projection or expression, it refuses; test/integration/store-conformance.int-spec.ts).
@Injectable()
export class StoredKeyIdsRepository {
  constructor(@InjectConnection() private readonly connection: Connection) {}

  // per collection, the stored values of its encrypted field in the sample
  async sample(): Promise<Array<{ collection: string; values: string[] }>> {
    const samples = [];
    for (const { collection, path, limit } of SAMPLED) {
      const documents = await this.connection
        .db!.collection(collection)
        .find({}, { projection: { _id: 0, [path]: 1 } })
        .limit(limit)
        .toArray();
      samples.push({ collection, values: documents.flatMap((document) => valuesAt(document, path)) });
    }
    return samples;
  }
}

// the strings at a dotted path, through arrays (`messages.content` of every message)
export function valuesAt(value: unknown, path: string): string[] {
  if (path === '') return typeof value === 'string' ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => valuesAt(item, path));
  if (typeof value !== 'object' || value === null) return [];
  const [head, ...rest] = path.split('.');
  return valuesAt((value as Record<string, unknown>)[head], rest.join('.'));
}

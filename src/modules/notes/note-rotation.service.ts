import { Inject, Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { KeyRotationPass, type RotationCount } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { NOTES_CIPHER } from './notes.service';
import { SessionNote } from './schemas/session-note.schema';

// between notes: the pass yields to live traffic
const PAUSE_MS = 5;

// The notes' text after an ENCRYPTION_KEY rotation, as KeyRotationService does for sessions:
// rewritten with the new key in the background, once at start while ENCRYPTION_KEY_PREVIOUS is set
// (docs/operations.md, "Rotating ENCRYPTION_KEY").
// No lock: a note is written once (NotesService.add) and never updated, so a `$set` of `text` whose
// filter holds the old ciphertext cannot lose a change, even as FerretDB's unlocked
// read-modify-write (docs/protocol.md, "The store"); two instances' passes both write a ciphertext of
// the same text, either readable.
@Injectable()
export class NoteRotationService extends KeyRotationPass {
  constructor(
    @InjectModel(SessionNote.name) private readonly notes: Model<SessionNote>,
    @Inject(NOTES_CIPHER) private readonly cipher: ContentCipher,
    @Inject(SETTINGS) settings: Settings,
  ) {
    super(settings);
  }

  run(pauseMs = PAUSE_MS): Promise<RotationCount> {
    return this.passes.rewriteEach(
      this.logger,
      { what: 'session notes', idField: 'note_id', doneEvent: 'key_rotation_notes_done' },
      this.withOldKeys(),
      (note) => String(note._id),
      async (note) => {
        const text = this.cipher.reencrypt(note.text);
        await this.notes.updateOne({ _id: note._id, text: note.text }, { $set: { text } });
        return true;
      },
      pauseMs,
    );
  }

  private async *withOldKeys(): AsyncGenerator<{ _id: unknown; text: string }> {
    const notes = this.notes
      .find({}, { _id: 1, text: 1 })
      .lean<Array<Pick<SessionNote, '_id' | 'text'>>>()
      .cursor({ batchSize: 100 });
    for await (const note of notes)
      if (typeof note.text === 'string' && !this.cipher.isCurrent(note.text))
        yield { _id: note._id, text: note.text };
  }
}

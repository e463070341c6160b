import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import type { Principal } from '../../common/auth/principal';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { readable } from '../../common/crypto/readable-content';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SessionsService } from '../sessions/sessions.service';
import { SessionNote } from './schemas/session-note.schema';
import { newId } from '../../common/ids';

export const NOTES_CIPHER = Symbol('NOTES_CIPHER');

export interface NoteView {
  id: string;
  session_id: string;
  admin_id: string;
  admin_name: string | null;
  text: string;
  // the text cannot be decrypted (a key no longer listed): shown empty
  unreadable?: true;
  created_at: string;
}

// Internal notes: their own collection, so nothing that serves users (the socket, the export, the
// session detail) can carry them by mistake.
@Injectable()
export class NotesService implements OnModuleInit {
  constructor(
    @InjectModel(SessionNote.name) private readonly notes: Model<SessionNote>,
    @Inject(NOTES_CIPHER) private readonly cipher: ContentCipher,
    private readonly sessions: SessionsService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.notes.createIndexes();
  }

  async list(sessionId: string): Promise<NoteView[]> {
    const found = await this.notes
      .find({ session_id: sessionId })
      .sort({ created_at: 1 })
      .lean<SessionNote[]>();
    return found.map((note) => this.view(note));
  }

  // Under the session's lock, which the purge of a deleted session holds while it removes the
  // session's notes and then the session (SessionRemoval): a note comes before, and goes with them,
  // or after, and finds no session. Checked and inserted beside the purge, it outlived its session.
  async add(sessionId: string, admin: Principal, text: string): Promise<NoteView> {
    const note: SessionNote = {
      _id: newId(),
      session_id: sessionId,
      admin_id: admin.userId,
      admin_name: admin.name,
      text: this.cipher.encrypt(text),
      created_at: new Date(),
    };
    await this.sessions.exclusive(sessionId, async () => {
      if (!(await this.sessions.getAny(sessionId)))
        throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
      await this.notes.create(note);
    });
    return this.view(note);
  }

  // a purged session's notes (SessionPurgeService, under the session's lock)
  async removeOf(sessionId: string): Promise<void> {
    await this.notes.deleteMany({ session_id: sessionId });
  }

  // A text that cannot be decrypted (a key no longer listed, readable-content.ts) is shown empty,
  // `unreadable` true: the session's other notes still list.
  private view(note: SessionNote): NoteView {
    const text = readable(this.cipher, note.text, {
      field: 'note_text',
      session_id: note.session_id,
      note_id: String(note._id),
    });
    return {
      id: note._id,
      session_id: note.session_id,
      admin_id: note.admin_id,
      admin_name: note.admin_name ?? null,
      text: text ?? '',
      ...(text === null ? { unreadable: true } : {}),
      created_at: new Date(note.created_at).toISOString(),
    };
  }
}

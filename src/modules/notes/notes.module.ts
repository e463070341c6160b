import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { SessionsModule } from '../sessions/sessions.module';
import { NotesController } from './notes.controller';
import { NoteRotationService } from './note-rotation.service';
import { NOTES_CIPHER, NotesService } from './notes.service';
import { SessionNote, SessionNoteSchema } from './schemas/session-note.schema';

// Admins' internal notes on sessions (their own collection, written only here).
@Module({
  imports: [
    MongooseModule.forFeature([{ name: SessionNote.name, schema: SessionNoteSchema }]),
    SessionsModule,
  ],
  controllers: [NotesController],
  providers: [
    NotesService,
    NoteRotationService,
    {
      provide: NOTES_CIPHER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
    },
  ],
  // the purge of deleted sessions removes their notes
  exports: [NotesService],
})
export class NotesModule {}

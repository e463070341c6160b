import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { CurrentSessionsRepository } from './current-sessions.repository';
import { KeyRotationService } from './key-rotation.service';
import { AssistanceRepository } from './assistance.repository';
import { CurrentSession, CurrentSessionSchema } from './schemas/current-session.schema';
import { Session, SessionSchema } from './schemas/session.schema';
import { BLIND_INDEX, CONTENT_CIPHER, SessionsRepository } from './sessions.repository';
import { BlindIndex } from '../../common/crypto/blind-index';
import { SessionsService } from './sessions.service';
import { SessionTerms, SessionTermsSchema } from './schemas/session-terms.schema';
import { SessionTermsIndexer } from './session-terms.indexer';
import { SessionTermsRepository } from './session-terms.repository';
import { SessionReads, WholeSessionRead } from './session-reads';
import { SessionRemoval } from './session-removal';

@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Session.name, schema: SessionSchema },
      { name: CurrentSession.name, schema: CurrentSessionSchema },
      { name: SessionTerms.name, schema: SessionTermsSchema },
    ]),
  ],
  providers: [
    AssistanceRepository,
    CurrentSessionsRepository,
    SessionsRepository,
    SessionsService,
    SessionTermsRepository,
    SessionTermsIndexer,
    KeyRotationService,
    SessionReads,
    WholeSessionRead,
    SessionRemoval,
    {
      provide: CONTENT_CIPHER,
      inject: [SETTINGS],
      useFactory: (settings: Settings) =>
        new ContentCipher(settings.encryption.key, settings.encryption.previousKeys),
    },
    {
      provide: BLIND_INDEX,
      inject: [SETTINGS],
      // queries match the previous keys' tokens too, until the rotation re-indexed (docs/protocol.md, "Search")
      useFactory: (settings: Settings) =>
        new BlindIndex(settings.encryption.key, undefined, settings.encryption.previousKeys),
    },
  ],
  // the repositories stay inside: other modules ask SessionsService (one writer of the collection),
  // and the purge of deleted sessions SessionRemoval
  exports: [SessionsService, SessionReads, WholeSessionRead, SessionRemoval],
})
export class SessionsModule {}

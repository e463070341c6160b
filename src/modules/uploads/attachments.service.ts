import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { showsStored, type StoredMessage } from '../../infra/files/file-store';
import type { NewMessage } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { FilesService } from './files.service';

// The `file_upload` message (CONTRACT §2): an uploaded file of this user becomes a message of the
// session, with its name, size and type; the file is then kept (attached) rather than swept. The
// message is stored by `store`, through the one record path (RecordService), under the file's lock.
// A message that stores nothing (a resend answered with the one stored before, a refusal such as
// SESSION_FULL) takes the attachment back unless another message of the session shows the file: until
// a files audit in session 39 it stayed, and the admin assisting the session could read an upload no
// message showed (5 of 5 runs; test/e2e/session-files-*.e2e-spec.ts).
@Injectable()
export class AttachmentsService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly files: FilesService,
  ) {}

  async record<T extends StoredMessage>(
    input: {
      sessionId: string;
      userId: string;
      fileId: string;
      clientId?: string;
      caption?: string;
    },
    store: (message: Omit<NewMessage, 'id' | 'timestamp'>) => Promise<T>,
  ): Promise<T> {
    const session = await this.sessions.getOwned(input.sessionId, input.userId);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    const caption = input.caption?.trim();
    return this.files.attachWhile(
      input.fileId,
      input.userId,
      input.sessionId,
      (file) =>
        store({
          type: 'file_upload',
          sender: 'user',
          client_id: input.clientId,
          content: caption ? caption : undefined,
          file_id: file.file_id,
          // the stable app URL only: signed URLs are made when the file is read
          metadata: { file: { name: file.name, size: file.size, mime_type: file.mime_type } },
        }),
      async (stored) =>
        showsStored(stored, input.fileId) || this.sessions.shows(input.sessionId, input.fileId, input.userId),
    );
  }
}

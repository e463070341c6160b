import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { showsStored, type StoredMessage } from '../../infra/files/file-store';
import type { NewMessage } from '../sessions/session.types';
import { adminKeyOf } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { FilesService } from './files.service';

// The `file_upload` message (CONTRACT §2): an uploaded file of this user becomes a message of the
// session, with its name, size and type; the file is then kept (attached) rather than swept. An
// assisting admin's file (`admin`) goes into the session that admin holds, as sender admin: the file
// stays the admin's (its quota, its owner), and the session's user and its assisting admin read it as
// a file that session shows (FilesService.readable; docs/protocol.md, "Takeover"). The
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
      // the admin (`userId`) assisting the session, shown by this name: the caller holds the lease
      // and `store` appends within that takeover only (TakeoverService.adminFile)
      admin?: { name: string };
    },
    store: (message: Omit<NewMessage, 'id' | 'timestamp'>) => Promise<T>,
  ): Promise<T> {
    // a user's file goes into the user's own session only. Until the contract audit of session 44
    // an assisting admin's was looked up here as the admin's own session too: refused NOT_FOUND
    // "Session not found." for the session the admin held, and the user got nothing (every run)
    const admin = input.admin;
    if (!admin && !(await this.sessions.getOwned(input.sessionId, input.userId)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    const caption = input.caption?.trim();
    return this.files.attachWhile(
      input.fileId,
      input.userId,
      input.sessionId,
      (file) =>
        store({
          type: 'file_upload',
          sender: admin ? 'admin' : 'user',
          client_id: input.clientId,
          content: caption ? caption : undefined,
          file_id: file.file_id,
          // the stable app URL only: signed URLs are made when the file is read. An admin's carries the
          // name shown and the key its resends are found by, as the admin's text does (session-rules.ts)
          metadata: {
            file: { name: file.name, size: file.size, mime_type: file.mime_type },
            ...(admin ? { admin_name: admin.name, admin_key: adminKeyOf(input.userId) } : {}),
          },
        }),
      async (stored) =>
        showsStored(stored, input.fileId) ||
        this.sessions.shows(input.sessionId, input.fileId, admin ? undefined : input.userId),
    );
  }
}

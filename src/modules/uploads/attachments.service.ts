import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { NewMessage } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { FilesService } from './files.service';

// The `file_upload` message (CONTRACT §2): an uploaded file of this user becomes a message of the
// session, with its name, size and type; the file is then kept (attached) rather than swept. The
// message is stored by the caller, through the one record path (RecordService).
@Injectable()
export class AttachmentsService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly files: FilesService,
  ) {}

  async prepare(input: {
    sessionId: string;
    userId: string;
    fileId: string;
    clientId?: string;
    caption?: string;
  }): Promise<Omit<NewMessage, 'id'>> {
    const session = await this.sessions.getOwned(input.sessionId, input.userId);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    const file = await this.files.attach(input.fileId, input.userId, input.sessionId);
    const caption = input.caption?.trim();
    return {
      type: 'file_upload',
      sender: 'user',
      client_id: input.clientId,
      content: caption ? caption : undefined,
      file_id: file.file_id,
      timestamp: new Date(),
      // the stable app URL only: signed URLs are made when the file is read
      metadata: { file: { name: file.name, size: file.size, mime_type: file.mime_type } },
    };
  }
}

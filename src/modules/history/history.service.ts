import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ConnectionsService } from '../chat/connections.service';
import { ClientHub } from '../realtime/client-hub';
import { SessionsService } from '../sessions/sessions.service';
import { FilesService } from '../uploads/files.service';
import {
  broughtFiles,
  toExport,
  exportedMessages,
  type ExportLink,
  type SessionExport,
} from './session-export';

// A user's library of sessions (issue 15): export (owner or admin), rename, archive, soft delete.
@Injectable()
export class HistoryService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly files: FilesService,
    private readonly hub: ClientHub,
    private readonly connections: ConnectionsService,
  ) {}

  async export(sessionId: string, reader: Principal): Promise<SessionExport> {
    const session = await this.sessions.withMessages(sessionId, reader);
    if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    // links signed now, for this export only (never stored), for a reader who may open the file
    const links = new Map<string, ExportLink>();
    // the message's own file, and those a reply brought and the server kept (until a library audit
    // in session 40 the export left these out: a reply's image was only the vendor's link, which
    // expires; test/e2e/history-export.e2e-spec.ts)
    const add = async (fileId: string, name: unknown) => {
      if (links.has(fileId)) return;
      const link = await this.files.exportLink(fileId, session, reader);
      if (link) links.set(fileId, { name: typeof name === 'string' ? name : 'file', ...link });
    };
    for (const message of exportedMessages(session)) {
      if (message.file_id)
        await add(message.file_id, (message.metadata?.file as { name?: unknown } | undefined)?.name);
      for (const file of broughtFiles(message))
        if (file.file_id) await add(file.file_id, file.name ?? file.kind);
    }
    return toExport(session, links, new Date());
  }

  async update(sessionId: string, userId: string, changes: { name?: string; archived?: boolean }) {
    // a change of nothing (`{}`, or no body) is a client's mistake, not a 200 that did nothing
    if (changes.name === undefined && changes.archived === undefined)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'Give name or archived (or both).');
    const name = changes.name?.trim();
    const updated = await this.sessions.updateOwned(sessionId, userId, {
      ...(name !== undefined ? { name } : {}),
      ...(changes.archived !== undefined ? { archived: changes.archived } : {}),
    });
    if (!updated) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    if (name !== undefined) this.hub.ephemeral(sessionId, { type: 'session_renamed', content: name });
    return {
      id: sessionId,
      ...(name !== undefined ? { name } : {}),
      ...(changes.archived !== undefined ? { archived: changes.archived } : {}),
    };
  }

  async delete(sessionId: string, owner: Principal): Promise<void> {
    const deleted = await this.sessions.softDelete(sessionId, owner.userId);
    if (!deleted) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    // nothing more of it is answered, on any instance; the user's devices were in it: they move to a
    // new session (docs/protocol.md, "Session library"); an admin's sockets are never moved (their
    // session is a console: the next connect opens one)
    await this.connections.sessionDeleted(owner.userId, sessionId, deleted.ended && !owner.isAdmin);
  }
}

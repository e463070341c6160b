import { ApiError } from '../../../shared/api';
import type { BlockList, BlockOutcome } from './block-list';
import { roomsApi } from './rooms-api';

export interface RoomBlocksLink {
  // the rooms store's list (RoomStore.blocks)
  readonly blocks: BlockList;
  token(): string | null;
  // shows the code's notice, after `what` (what failed)
  notify(code: string, what: string): void;
  changed(): void;
}

// The user's blocks over REST (docs/protocol.md "Rooms, direct messages, moderation": GET /blocks,
// POST /blocks, DELETE /blocks/:user_id), kept in the rooms store's BlockList: read when the Rooms
// view starts and after a reconnect, written on the user's Block and Unblock. A failure is the
// notice (what failed and why) and stays beside the user's Block or Unblock until the next try.
export class RoomBlocks {
  // reads on their way
  private reading = 0;

  constructor(private readonly link: RoomBlocksLink) {}

  // Reads the list. A failure is told (`tell`): `first`, when the list was fine until then (reads
  // asked again meanwhile fail quietly: the Blocked users list says it could not be loaded until
  // one answers); `always`, the user asked (its Retry); `never`, a read after a write that went
  // unanswered (that write's failure is the one told).
  async load(tell: 'first' | 'always' | 'never' = 'first'): Promise<void> {
    const { blocks } = this.link;
    const token = this.link.token();
    if (!token) return;
    const asked = blocks.readAsked();
    const failing = blocks.loadError !== null;
    this.reading++;
    try {
      const answer = await roomsApi.blocks(token);
      // a body without the list is no answer (an empty list would take every block away)
      if (!Array.isArray(answer?.user_ids)) throw new ApiError('INTERNAL', 0);
      blocks.read(answer.user_ids, asked);
    } catch (error) {
      const code = codeOf(error);
      blocks.readFailed(code, asked);
      if (tell === 'always' || (tell === 'first' && !failing))
        this.link.notify(code, 'Your blocked users could not be loaded.');
    } finally {
      this.reading--;
    }
    this.link.changed();
  }

  // Reads the list again when the last read failed or a write went unanswered, unless a read is on
  // its way already.
  retry(): void {
    if (this.reading === 0 && this.link.blocks.needsRead()) void this.load();
  }

  // The user's Block (true) or Unblock (false) of `userId`.
  set(userId: string, blocked: boolean): void {
    const send = this.link.blocks.want(userId, blocked);
    this.link.changed();
    if (send !== null) void this.write(userId, send);
  }

  private async write(userId: string, blocked: boolean): Promise<void> {
    const { blocks } = this.link;
    const token = this.link.token();
    let outcome: BlockOutcome = { ok: true };
    try {
      if (!token) throw new ApiError('UNAUTHORIZED', 401);
      if (blocked) await roomsApi.block(token, userId);
      else await roomsApi.unblock(token, userId);
    } catch (error) {
      const code = codeOf(error);
      // no answer, or the server failed: it may hold the write all the same
      const unknown = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
      outcome = { ok: false, code, unknown };
    }
    const next = blocks.answered(userId, outcome);
    if (!outcome.ok) {
      // told when it left the user's newest Block or Unblock undone (not when they changed their
      // mind back meanwhile)
      const refused = blocks.errorOf(userId);
      if (refused)
        this.link.notify(
          outcome.code,
          `${userId} could not be ${refused.blocked ? 'blocked' : 'unblocked'}.`,
        );
      // the server may hold it all the same: its list says
      if (outcome.unknown) void this.load('never');
    }
    this.link.changed();
    if (next !== null) void this.write(userId, next);
  }
}

function codeOf(error: unknown): string {
  return error instanceof ApiError ? error.code : 'INTERNAL';
}

// The users this user blocked (GET/POST/DELETE /api/v1/chat/blocks, docs/protocol.md "Rooms, direct
// messages, moderation"), as this device shows them: what the server holds, as last read or written,
// with the user's own blocks and unblocks over it from the click on (shown at once, undone when
// refused). Per user, one write is on its way at a time; a change of mind meanwhile goes after its
// answer. A read of the list asked before a write was answered may have been read before the server
// applied it, so it is not trusted for that user; nor is a read asked before a newer read that
// answered already.

// How a block or unblock sent ended: stored, refused (not applied), or unknown (no answer: the
// network, a 5xx; the server may hold it, so the list is read again).
export type BlockOutcome = { ok: true } | { ok: false; code: string; unknown: boolean };

export class BlockList {
  // the server's blocks as last read or written, in the order it lists them (oldest first)
  private held = new Set<string>();
  // the user's newest block (true) or unblock (false) per user, until the server answered it (only
  // while a write of theirs is on its way: the newest wish goes after it)
  private wishes = new Map<string, boolean>();
  // the write on its way per user: the block or unblock it makes
  private sending = new Map<string, boolean>();
  // per user, the step when the server last answered a write of theirs: reads asked before it may
  // not know it
  private written = new Map<string, number>();
  // users whose write went unanswered (the network, a 5xx): the server may or may not hold it, until
  // a read asked after that answers or another write is stored
  private uncertain = new Set<string>();
  // the step of each read asked, and of the newest read applied
  private steps = 0;
  private newestRead = 0;
  // per user, their newest block or unblock that was refused, and why (until the next one, or a
  // read that finds it done after all)
  private refused = new Map<string, { blocked: boolean; code: string }>();
  // the list was read at least once
  loaded = false;
  // why the last read failed (null: it did not)
  loadError: string | null = null;

  // Is the user blocked, as shown (the user's block or unblock on its way counts as done)?
  has(userId: string): boolean {
    return this.wishes.get(userId) ?? this.held.has(userId);
  }

  // The blocked users as shown: the server's order, then the ones blocked here since.
  list(): string[] {
    const shown = [...this.held].filter((userId) => this.has(userId));
    for (const [userId, blocked] of this.wishes) if (blocked && !this.held.has(userId)) shown.push(userId);
    return shown;
  }

  // A block or unblock of the user is on its way.
  pending(userId: string): boolean {
    return this.sending.has(userId);
  }

  // The user's newest block (blocked: true) or unblock that was refused, and why, if it was.
  errorOf(userId: string): { blocked: boolean; code: string } | undefined {
    return this.refused.get(userId);
  }

  // The list is to be read again: the last read failed, or a write went unanswered and no read since
  // tells what the server holds.
  needsRead(): boolean {
    return this.loadError !== null || this.uncertain.size > 0;
  }

  // A read of the list is asked for: its step, for read().
  readAsked(): number {
    return ++this.steps;
  }

  // The read asked at `asked` answered `userIds` (the server's `user_ids`; anything but strings is
  // left out).
  read(userIds: unknown, asked: number): void {
    if (asked < this.newestRead) return;
    this.newestRead = asked;
    this.loaded = true;
    this.loadError = null;
    const read = new Set(Array.isArray(userIds) ? userIds.filter((id) => typeof id === 'string') : []);
    // a user whose write the server answered after this read was asked keeps what that answer said
    const trusted = (userId: string) => (this.written.get(userId) ?? 0) < asked;
    const held = new Set<string>();
    for (const userId of read) if (trusted(userId) || this.held.has(userId)) held.add(userId);
    for (const userId of this.held) if (!trusted(userId)) held.add(userId);
    this.held = held;
    for (const userId of this.uncertain) if (trusted(userId)) this.uncertain.delete(userId);
    // a write whose answer was lost but which the server applied is no longer told as refused
    for (const [userId, refused] of this.refused)
      if (held.has(userId) === refused.blocked) this.refused.delete(userId);
  }

  // The read asked at `asked` failed (`code`): the list stays as it was.
  readFailed(code: string, asked: number): void {
    if (asked >= this.newestRead) this.loadError = code;
  }

  // The user blocks (true) or unblocks (false) `userId`: shown at once. Returns the write to send
  // now, or null: one is on its way (this one follows its answer), or there is nothing to change.
  want(userId: string, blocked: boolean): boolean | null {
    this.refused.delete(userId);
    if (this.sending.has(userId)) {
      this.wishes.set(userId, blocked);
      return null;
    }
    if (this.held.has(userId) === blocked && !this.uncertain.has(userId)) {
      this.wishes.delete(userId);
      return null;
    }
    this.wishes.set(userId, blocked);
    this.sending.set(userId, blocked);
    return blocked;
  }

  // The answer to the user's write on its way. Returns the write to send next (the user changed
  // their mind meanwhile), or null.
  answered(userId: string, outcome: BlockOutcome): boolean | null {
    const sent = this.sending.get(userId);
    if (sent === undefined) return null;
    this.sending.delete(userId);
    const wish = this.wishes.get(userId);
    if (outcome.ok || outcome.unknown) this.written.set(userId, ++this.steps);
    if (outcome.ok) {
      if (sent) this.held.add(userId);
      else this.held.delete(userId);
      this.uncertain.delete(userId);
    } else if (outcome.unknown) this.uncertain.add(userId);
    // no answer, and the user changed their mind meanwhile: what the server holds is unknown, so
    // the newest wish goes (a write sets the state, whatever the lost one did)
    if (!outcome.ok && outcome.unknown && wish !== undefined && wish !== sent) {
      this.sending.set(userId, wish);
      return wish;
    }
    if (!outcome.ok) {
      // refused or unknown: the server's list is shown (read again when unknown); the refusal is
      // told when it leaves the user's newest wish undone
      this.wishes.delete(userId);
      if (wish !== undefined && (wish !== this.held.has(userId) || this.uncertain.has(userId)))
        this.refused.set(userId, { blocked: wish, code: outcome.code });
      return null;
    }
    if (wish === undefined || wish === this.held.has(userId)) {
      this.wishes.delete(userId);
      return null;
    }
    this.sending.set(userId, wish);
    return wish;
  }
}

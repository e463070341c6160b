// What the rooms chaos clients did to stored messages (docs/protocol.md, "Rooms": `edit`, `react`),
// and what the store must hold for it afterwards.
//
// Every operation is sent, and sent again on a fresh socket while it is not acked; a client moves to
// its next operation only once the last one was acked, so of one message's edits (or one user's
// reactions with one emoji on one message) every one is acked but maybe the last, which the run may
// have ended before. An unacked copy (its socket was cut) may land at any time, or never.
//
// - Edits: the stored text must be one of the texts sent for the message: the last one that was acked
//   (the original, acked as the message itself, when no edit was), or one sent after it and never
//   acked (it may have landed). So a copy of an earlier edit that lands after a later edit was acked
//   is a fault: the acked edit is undone. `metadata.edited_at` is there exactly when the text is not
//   the original. A message no edit was sent for keeps its original text and is not marked edited.
// - Reactions, per (message, user, emoji): present after the last acked operation when it was an add
//   (absent when none was acked), or as any later unacked operation left it. A reaction no operation
//   was sent for, or a user listed twice under one emoji, is a fault.
// - Deletes (the sender's own, or the owner's of anyone's), sent and resent with a client_id until
//   acked (or refused NOT_FOUND: someone else deleted it first). A message with an acked delete must
//   read as deleted, without text, whatever copy of an edit or reaction landed late; a message no
//   delete was sent for must not read as deleted. One with only unacked deletes may read either way.
//   A deleted message shows no text, edit mark or reactions: those checks pass it by.

export interface StoredChanges {
  message_id: string;
  seq: number;
  user_id: string;
  content?: string;
  metadata?: { edited_at?: string; deleted?: boolean; reactions?: Record<string, string[]> };
}

export interface ChangeCounts {
  // stored texts that are not the last acked one (nor a later unacked one)
  contentWrong: number;
  // `edited_at` present on an unedited text or missing on an edited one
  editedWrong: number;
  // (message, user, emoji) present or absent against the acked operations, or never sent
  reactionsWrong: number;
  // a user listed more than once under one emoji of one message
  reactionsDoubled: number;
  // read as deleted, and no delete was ever sent for it
  deletedWrong: number;
  // a delete was acked, and the message reads as not deleted (or with text)
  deleteLost: number;
}

interface Sent<T> {
  value: T;
  acked: boolean;
  // when it first went out and when it was acked (a fault's line shows them)
  sentAt?: number;
  ackedAt?: number;
}

export class ChangeLedger {
  // message → its texts in send order: [0] the original (acked as the message), then the edits
  private readonly texts = new Map<string, Array<Sent<string>>>();
  // `message|user|emoji` → the operations in send order (true = add)
  private readonly reactions = new Map<string, Array<Sent<boolean>>>();
  // message → its deletes (by anyone) in send order
  private readonly deletes = new Map<string, Array<Sent<string>>>();

  // An acked message and the text it was sent with.
  stored(messageId: string, text: string): void {
    if (!this.texts.has(messageId)) this.texts.set(messageId, [{ value: text, acked: true }]);
  }

  // An edit is about to go out (first copy); its index names it for editAcked.
  editSent(messageId: string, text: string): number {
    const texts = this.texts.get(messageId);
    if (!texts) throw new Error(`edit of a message never acked: ${messageId}`);
    return texts.push({ value: text, acked: false, sentAt: Date.now() }) - 1;
  }

  editAcked(messageId: string, index: number): void {
    const edit = this.texts.get(messageId)![index];
    edit.acked = true;
    edit.ackedAt ??= Date.now();
  }

  reactSent(messageId: string, userId: string, emoji: string, add: boolean): number {
    const key = reactionKey(messageId, userId, emoji);
    let operations = this.reactions.get(key);
    if (!operations) this.reactions.set(key, (operations = []));
    return operations.push({ value: add, acked: false, sentAt: Date.now() }) - 1;
  }

  reactAcked(messageId: string, userId: string, emoji: string, index: number): void {
    const operation = this.reactions.get(reactionKey(messageId, userId, emoji))![index];
    operation.acked = true;
    operation.ackedAt ??= Date.now();
  }

  // A delete is about to go out (first copy) by `userId`; its index names it for deleteAcked.
  deleteSent(messageId: string, userId: string): number {
    let deletes = this.deletes.get(messageId);
    if (!deletes) this.deletes.set(messageId, (deletes = []));
    return deletes.push({ value: userId, acked: false, sentAt: Date.now() }) - 1;
  }

  deleteAcked(messageId: string, index: number): void {
    const sent = this.deletes.get(messageId)![index];
    sent.acked = true;
    sent.ackedAt ??= Date.now();
  }

  // some delete of the message was acked (it must read as deleted)
  isDeleted(messageId: string): boolean {
    return this.deletes.get(messageId)?.some((sent) => sent.acked) ?? false;
  }

  // What the user's last operation asked for (whether it landed or not).
  reacted(messageId: string, userId: string, emoji: string): boolean {
    return this.reactions.get(reactionKey(messageId, userId, emoji))?.at(-1)?.value ?? false;
  }

  // The count of edits, reaction operations and deletes acked.
  acked(): { edits: number; reactions: number; deletes: number } {
    let edits = 0;
    let reactions = 0;
    let deletes = 0;
    for (const sent of this.deletes.values()) deletes += sent.filter((one) => one.acked).length;
    for (const texts of this.texts.values()) edits += texts.slice(1).filter((text) => text.acked).length;
    for (const operations of this.reactions.values())
      reactions += operations.filter((operation) => operation.acked).length;
    return { edits, reactions, deletes };
  }

  // Checks the stored messages (every room's history) against what was sent and acked; `problem`
  // hears of each fault.
  check(messages: StoredChanges[], problem: (line: string) => void): ChangeCounts {
    const counts: ChangeCounts = {
      contentWrong: 0,
      editedWrong: 0,
      reactionsWrong: 0,
      reactionsDoubled: 0,
      deletedWrong: 0,
      deleteLost: 0,
    };
    const read = new Set<string>();
    const present = new Set<string>();
    for (const message of messages) {
      const where = `seq ${message.seq} (${message.message_id})`;
      const deletes = this.deletes.get(message.message_id);
      if (message.metadata?.deleted) {
        if (!deletes) {
          counts.deletedWrong++;
          problem(`${where} reads as deleted, and nobody deleted it`);
        } else if (message.content !== undefined || message.metadata.edited_at !== undefined) {
          counts.deleteLost++;
          problem(`${where} reads as deleted, with its text or edit mark still there`);
        } else if (message.metadata.reactions !== undefined) {
          counts.deleteLost++;
          problem(`${where} reads as deleted, with reactions still shown`);
        }
        // its text and reactions are gone: nothing more to check
        continue;
      }
      if (deletes?.some((sent) => sent.acked)) {
        counts.deleteLost++;
        problem(`${where} reads as not deleted after an acked delete: ${JSON.stringify(deletes)}`);
        continue;
      }
      read.add(message.message_id);
      const texts = this.texts.get(message.message_id);
      const edited = message.metadata?.edited_at !== undefined;
      if (texts) {
        const allowed = possible(texts);
        if (message.metadata?.deleted || message.content === undefined || !allowed.has(message.content)) {
          counts.contentWrong++;
          const sent = texts.findIndex((text) => text.value === message.content);
          const times = texts
            .slice(1)
            .map((text, index) => `#${index + 1} sent ${iso(text.sentAt)} acked ${iso(text.ackedAt)}`);
          problem(
            `${where} holds ${sent >= 0 ? `text #${sent} of ${texts.length - 1} edits` : 'a text never sent'}` +
              ` (acked up to #${lastAcked(texts)}; edited_at ${message.metadata?.edited_at}; ${times.join(', ')})`,
          );
        } else if (edited !== (message.content !== texts[0].value)) {
          counts.editedWrong++;
          problem(
            `${where} is ${edited ? '' : 'not '}marked edited with ${edited ? 'its original' : 'an edited'} text`,
          );
        }
      } else if (edited) {
        // no edit was ever sent for it
        counts.editedWrong++;
        problem(`${where} is marked edited, and nobody edited it`);
      }
      for (const [emoji, users] of Object.entries(message.metadata?.reactions ?? {})) {
        const seen = new Set<string>();
        for (const user of users) {
          if (seen.has(user)) {
            counts.reactionsDoubled++;
            problem(`${where}: ${user} listed twice under one emoji`);
          }
          seen.add(user);
          present.add(reactionKey(message.message_id, user, emoji));
        }
      }
    }
    for (const [key, operations] of this.reactions) {
      if (!read.has(key.split('|')[0])) continue;
      if (!possible(operations, false).has(present.has(key))) {
        counts.reactionsWrong++;
        problem(
          `reaction ${key} is ${present.has(key) ? 'there' : 'gone'} after ${JSON.stringify(operations)}`,
        );
      }
    }
    for (const key of present)
      if (!this.reactions.has(key)) {
        counts.reactionsWrong++;
        problem(`reaction ${key} was never sent`);
      }
    return counts;
  }
}

function iso(time: number | undefined): string {
  return time === undefined ? '-' : new Date(time).toISOString();
}

function reactionKey(messageId: string, userId: string, emoji: string): string {
  return `${messageId}|${userId}|${emoji}`;
}

function lastAcked<T>(sent: Array<Sent<T>>): number {
  return sent.findLastIndex((operation) => operation.acked);
}

// The outcomes the store may hold: the last acked operation's, or any later unacked one's (`none`
// when nothing was acked).
function possible<T>(sent: Array<Sent<T>>, none?: T): Set<T> {
  const last = lastAcked(sent);
  const allowed = new Set<T>(sent.slice(last + 1).map((operation) => operation.value));
  if (last >= 0) allowed.add(sent[last].value);
  else if (none !== undefined) allowed.add(none);
  return allowed;
}

import type { Model } from 'mongoose';
import { bulkEach, coalescingLoader, insertEach } from '../../common/coalescing-loader';
import type { Session } from './schemas/session.schema';
import { type SessionDocument, WITHOUT_MESSAGES } from './session-documents';

// statements per coalesced bulkWrite (docs/protocol.md, "Coalesced writes")
const BULK_STATEMENTS = 50;
// bulk writes of one kind in flight at once: FerretDB runs each command's statements one after the
// other, so two let it decode and encode large session documents on both cores
const BULK_IN_FLIGHT = 2;

// a write to one session, as a coalesced bulk sends it
export interface SessionWrite {
  sessionId: string;
  filter: Record<string, unknown>;
  update: Record<string, unknown>;
}

// an append that returns nothing, as its batch sends it and answers it
export interface PlainAppend extends SessionWrite {
  seq: number;
  messageId: string;
}

// The session commands that callers' point operations share: each batch is one command, sent through
// the driver. The callers build every filter and update; a batch only sends them and answers each.
export class SessionBatches {
  constructor(private readonly sessions: Model<Session>) {}

  // New sessions and heads read by id are coalesced (docs/protocol.md, "Opening a session"): the
  // sessions opened while one batch is in flight are inserted in one insertMany, and read in one
  // find of `_id: {$in}` (FerretDB pushes it down to the `_id` index), through the driver.
  readonly inserts = coalescingLoader<SessionDocument, true>((documents) =>
    insertEach(this.sessions.collection, documents),
  );

  readonly heads = coalescingLoader<string, SessionDocument | null>(async (ids) => {
    const found = (await this.sessions.collection
      .find({ _id: { $in: [...new Set(ids)] } } as Record<string, unknown>, { projection: WITHOUT_MESSAGES })
      .toArray()) as unknown as SessionDocument[];
    const byId = new Map(found.map((document) => [document._id, document]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  // Writes that return nothing are coalesced likewise, one unordered bulkWrite per batch (each
  // session's writes are serialized by its lock, so a batch never holds two of one session's):
  // - plain field updates (a rename, the model), answered per operation;
  //   (at most BULK_STATEMENTS per command: FerretDB 1.24, before update-per-statement.patch, hung on
  //   an update command of 100 statements or more)
  // - appends that return nothing (a reply, an event): their compare-and-set must be answered per
  //   append, which the bulk's counts do when every one was modified; otherwise, which is rare (a
  //   conflict, a full or missing session), the batch's logs are read, and an append was stored when
  //   its message is there at its seq (messages[i].seq === i + 1).
  readonly updates = coalescingLoader<
    { filter: Record<string, unknown>; update: Record<string, unknown> },
    true
  >(
    async (writes) => (await bulkEach(() => this.updateEach(writes), writes.length)).answers,
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

  readonly plainAppends = coalescingLoader<PlainAppend, boolean>(
    (appends) =>
      this.updateEachAnswered(
        appends,
        { messages: 1 },
        (stored: { messages?: Array<{ id: string }> } | undefined, append) =>
          stored?.messages?.[append.seq - 1]?.id === append.messageId,
      ),
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

  // Answered per title: an owner's name refuses it (so does a title equal to the name it had, which
  // modifies nothing; it is answered by the name read back, as renamed)
  readonly titles = coalescingLoader<SessionWrite & { name: string }, boolean>(
    (titles) =>
      this.updateEachAnswered(
        titles,
        { name: 1 },
        (stored: { name?: string } | undefined, title) => stored?.name === title.name,
      ),
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

  // A bulk of updateOnes answered per write: each was applied when the bulk modified them all;
  // otherwise (rare) the written sessions are read back (`projection`) and `applied` tells, per write.
  private async updateEachAnswered<W extends SessionWrite, D>(
    writes: readonly W[],
    projection: Record<string, 1>,
    applied: (stored: D | undefined, write: W) => boolean,
  ): Promise<Array<boolean | Error>> {
    const { answers, result } = await bulkEach(() => this.updateEach(writes), writes.length);
    if (result?.modifiedCount === writes.length) return answers;
    const found = (await this.sessions.collection
      .find(
        { _id: { $in: [...new Set(writes.map((write) => write.sessionId))] } } as Record<string, unknown>,
        {
          projection,
        },
      )
      .toArray()) as unknown as Array<D & { _id: string }>;
    const byId = new Map(found.map((stored) => [stored._id, stored]));
    return writes.map((write, index) => {
      const answer = answers[index];
      return answer === true ? applied(byId.get(write.sessionId), write) : answer;
    });
  }

  // one updateOne per write: alone, the command itself; else one unordered bulkWrite
  private async updateEach(
    writes: ReadonlyArray<{ filter: Record<string, unknown>; update: Record<string, unknown> }>,
  ): Promise<{ modifiedCount: number }> {
    const collection = this.sessions.collection;
    if (writes.length === 1) return collection.updateOne(writes[0].filter, writes[0].update);
    return collection.bulkWrite(
      writes.map(({ filter, update }) => ({ updateOne: { filter, update } })),
      { ordered: false },
    );
  }
}

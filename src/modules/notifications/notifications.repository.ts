import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection, Document } from 'mongodb';
import type { Model } from 'mongoose';
import { insertEach } from '../../common/coalescing-loader';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { readable } from '../../common/crypto/readable-content';
import type { AlertEventType, NotificationRecord, NotificationStatus } from './alert.types';
import { InstanceBeat, Notification, NotificationMark } from './schemas/notification.schema';
import { isDuplicateKey } from '../../common/store-errors';
import type { NewSlotClaim, SlotClaim, SlotStore } from './alert-slots';

export const NOTIFICATION_CIPHER = Symbol('NOTIFICATION_CIPHER');

type NotificationDocument = Omit<Notification, '_id'> & { _id: string };

// how long a digest's claim on a held alert lasts (it is taken within milliseconds)
const CLAIM_MS = 3_600_000;

// the states an alert never leaves: no delivery or digest writes it again
const FINAL: NotificationStatus[] = ['sent', 'failed', 'digested'];

// Mongoose for the notifications collection, its unique marks, and instance heartbeats.
@Injectable()
export class NotificationsRepository implements OnModuleInit, SlotStore {
  constructor(
    @InjectModel(Notification.name) private readonly notifications: Model<Notification>,
    @InjectModel(NotificationMark.name) private readonly marks: Model<NotificationMark>,
    @InjectModel(InstanceBeat.name) private readonly instances: Model<InstanceBeat>,
    @Inject(NOTIFICATION_CIPHER) private readonly cipher: ContentCipher,
  ) {}

  async onModuleInit(): Promise<void> {
    // the app must boot while MongoDB is away (the database_failure alert needs it running)
    await Promise.all([
      this.notifications.createIndexes(),
      this.marks.createIndexes(),
      this.instances.createIndexes(),
    ]).catch(() => undefined);
  }

  async insert(record: NotificationRecord): Promise<void> {
    const { id, reason, ...rest } = record;
    await this.notifications.create({
      ...rest,
      _id: id,
      reason: reason === null ? null : this.cipher.encrypt(reason),
    });
  }

  // Key rotation: rewrites reasons written with an old key. Only alerts in a final state (sent,
  // failed, digested: nothing writes them again); pending and suppressed ones are rewritten by a later
  // pass (hourly). A pending one gets its delivery state written back and a suppressed one its digest
  // (takeSuppressed), which a concurrent rewrite could undo on FerretDB (updates are unlocked
  // read-modify-writes, docs/protocol.md "The store"). Until the key-rotation audit of session 42 the
  // pass rewrote suppressed alerts too: one rewritten while a digest took it was written back
  // 'suppressed', digest_id null, its claim kept: left out of the digest that counted it, or sent
  // again in a later one (4 of 6 runs). A reason no listed key reads is left as it is, counted failed.
  async reencryptReasons(): Promise<{ rewritten: number; failed: number }> {
    const result = { rewritten: 0, failed: 0 };
    const cursor = this.notifications
      .find({ reason: { $ne: null }, status: { $in: FINAL } }, { _id: 1, reason: 1 })
      .lean<Array<{ _id: string; reason: string }>>()
      .cursor({ batchSize: 100 });
    for await (const document of cursor) {
      if (typeof document.reason !== 'string' || this.cipher.isCurrent(document.reason)) continue;
      try {
        const reason = this.cipher.reencrypt(document.reason);
        await this.notifications.updateOne(
          { _id: document._id, reason: document.reason, status: { $in: FINAL } },
          { $set: { reason } },
        );
        result.rewritten++;
      } catch {
        result.failed++;
      }
    }
    return result;
  }

  // Writes the delivery state back (the rest of a stored alert never changes). What was sent is
  // added, never replaced. On FerretDB $addToSet is an unlocked read-modify-write like $set: what
  // keeps the lists whole there is that one attempt at a time writes them (DeliveryService's claims,
  // docs/protocol.md "Alert limits and digests").
  async saveDelivery(record: NotificationRecord): Promise<void> {
    await this.notifications.updateOne(
      { _id: record.id },
      {
        $set: {
          status: record.status,
          attempts: record.attempts,
          next_attempt_at: record.next_attempt_at,
          last_error: record.last_error,
        },
        ...this.added(record),
      },
    );
  }

  // Records one send as soon as it is done, so the next attempt skips it whatever becomes of this one.
  async addSent(id: string, sent: Pick<NotificationRecord, 'sent_to'> & { sent?: string[] }): Promise<void> {
    const added = this.added({ sent: sent.sent ?? [], sent_to: sent.sent_to });
    if (added.$addToSet) await this.notifications.updateOne({ _id: id }, added);
  }

  private added(record: { sent: string[]; sent_to?: string[] }) {
    const lists: Record<string, { $each: string[] }> = {};
    if (record.sent.length > 0) lists.sent = { $each: record.sent };
    if (record.sent_to && record.sent_to.length > 0) lists.sent_to = { $each: record.sent_to };
    return Object.keys(lists).length > 0 ? { $addToSet: lists } : {};
  }

  async get(id: string): Promise<NotificationRecord | null> {
    const found = await this.notifications.findOne({ _id: id }).lean<NotificationDocument>();
    return found ? this.toRecord(found) : null;
  }

  async due(now: Date, limit = 20): Promise<NotificationRecord[]> {
    const found = await this.notifications
      .find({ status: 'pending', next_attempt_at: { $lte: now } })
      .sort({ next_attempt_at: 1 })
      .limit(limit)
      .lean<NotificationDocument[]>();
    return found.map((document) => this.toRecord(document));
  }

  // Suppressed alerts not yet in a digest now belong to `digestId`. Each is claimed first by a unique
  // insert of its mark (`dg:<id>`, one unordered insertMany): two digests that overlap (a slow one
  // running into the next interval, two clocks straddling an interval's end) take each alert once.
  // The `digest_id: null` update alone is no claim on FerretDB, which applies it as an unlocked
  // read-modify-write (both updates "succeed"). A digest that dies between its claims and its update
  // leaves those alerts held until the claims expire (CLAIM_MS) and a later digest takes them.
  async takeSuppressed(digestId: string, limit = 1000, now = new Date()): Promise<NotificationRecord[]> {
    const waiting = (await this.heldFairly(limit)).map((_id) => ({ _id }));
    if (waiting.length === 0) return [];
    const expires = new Date(now.getTime() + CLAIM_MS);
    const claims = await insertEach(
      this.marks.collection as unknown as Collection<Document>,
      waiting.map((document) => ({ _id: `dg:${document._id}`, expires_at: expires })),
    );
    // a claim refused (another digest's, or the store's error) leaves the alert to the others
    const mine = waiting.filter((_, index) => claims[index] === true).map((document) => document._id);
    if (mine.length === 0) return [];
    await this.notifications.updateMany(
      { _id: { $in: mine }, digest_id: null },
      { $set: { digest_id: digestId, status: 'digested' } },
    );
    const taken = await this.notifications.find({ digest_id: digestId }).lean<NotificationDocument[]>();
    return taken.map((document) => this.toRecord(document));
  }

  // The held alerts a digest takes, oldest first, at most `limit`, and of one type and user at most a
  // twentieth of them while other alerts wait; what room is left then goes to the rest, oldest first
  // (docs/protocol.md, "Alert limits and digests"). Until the quota audit of session 41 the digest
  // took the oldest 1,000 whoever's they were: one user who held more than that in one digest interval
  // (a report of each of many messages, a help request from each of many sessions; the limits let
  // them hold 6,000) kept everyone else's held alerts out of every digest while it went on. Each
  // query below leaves out the alerts taken and the (type, user) pairs at their share: one that
  // comes back full without taking `limit` filled another pair's share, so there are at most 21.
  private async heldFairly(limit: number): Promise<string[]> {
    const share = Math.max(1, Math.floor(limit / 20));
    const held = { status: 'suppressed', digest_id: null };
    const pairOf = { _id: 1, type: 1, user_id: 1 };
    const taken: string[] = [];
    const counts = new Map<string, number>();
    const full: Array<{ type: string; user_id: string | null }> = [];
    const oldest = (filter: Record<string, unknown>, count: number) =>
      this.notifications
        .find({ ...held, ...(taken.length > 0 ? { _id: { $nin: [...taken] } } : {}), ...filter }, pairOf)
        .sort({ at: 1, _id: 1 })
        .limit(count)
        .lean<Array<{ _id: string; type: string; user_id: string | null }>>();
    for (;;) {
      const wanted = limit - taken.length;
      const found = await oldest(full.length > 0 ? { $nor: full } : {}, wanted);
      for (const alert of found) {
        const pair = JSON.stringify([alert.type, alert.user_id ?? null]);
        const count = counts.get(pair) ?? 0;
        if (count >= share) continue;
        taken.push(alert._id);
        counts.set(pair, count + 1);
        if (count + 1 === share) full.push({ type: alert.type, user_id: alert.user_id ?? null });
      }
      if (found.length < wanted || taken.length >= limit) break;
    }
    if (taken.length < limit && full.length > 0)
      taken.push(...(await oldest({}, limit - taken.length)).map((alert) => alert._id));
    return taken;
  }

  async find(filter: { type?: string; sessionId?: string; kind?: string }, limit = 100) {
    const query: Record<string, unknown> = {};
    if (filter.type) query.type = filter.type;
    if (filter.sessionId) query.session_id = filter.sessionId;
    if (filter.kind) query.kind = filter.kind;
    const found = await this.notifications
      .find(query)
      .sort({ at: -1 })
      .limit(limit)
      .lean<NotificationDocument[]>();
    return found.map((document) => this.toRecord(document));
  }

  // Retention (ALERT_RETENTION; a message report's alert with its report, ROOM_RETENTION): alerts made
  // before `before` that are settled go, reason included. Sent and failed ones are never written
  // again; a digested one once its digest is stored (it read its alerts before) or its claim has
  // expired (a digest that died). Pending and suppressed ones are left to their delivery and digest,
  // to a later sweep: a delete beside a send could lose what `sent_to` recorded, and a held alert
  // would miss its digest (docs/protocol.md, "Alert limits and digests"). Without `type`, digests
  // too. The number removed.
  async removeSettled(before: Date, type?: AlertEventType, now = new Date()): Promise<number> {
    let removed = await this.removeSettledWhere(
      { at: { $lt: before }, ...(type ? { type } : { kind: 'alert' }) },
      now,
    );
    if (!type)
      removed += (
        await this.notifications.deleteMany({
          kind: 'digest',
          at: { $lt: before },
          status: { $in: ['sent', 'failed'] },
        })
      ).deletedCount;
    return removed;
  }

  // A purged session's alerts, by the same rule: the settled ones go now, reasons included (a help
  // request's text); one still pending or held for a digest goes at ALERT_RETENTION, after its send.
  removeSettledOf(sessionId: string, now = new Date()): Promise<number> {
    return this.removeSettledWhere({ session_id: sessionId, kind: 'alert' }, now);
  }

  private async removeSettledWhere(filter: Record<string, unknown>, now: Date): Promise<number> {
    let removed = (await this.notifications.deleteMany({ ...filter, status: { $in: ['sent', 'failed'] } }))
      .deletedCount;
    for (;;) {
      const digested = await this.notifications
        .find({ ...filter, status: 'digested' }, { _id: 1, digest_id: 1 })
        .limit(500)
        .lean<Array<{ _id: string; digest_id: string | null }>>();
      if (digested.length === 0) break;
      const digests = [...new Set(digested.map((alert) => alert.digest_id ?? ''))];
      const stored = await this.notifications
        .find({ _id: { $in: digests } }, { _id: 1 })
        .lean<Array<{ _id: string }>>();
      const claimed = await this.marks
        .find(
          { _id: { $in: digested.map((alert) => `dg:${alert._id}`) }, expires_at: { $gte: now } },
          { _id: 1 },
        )
        .lean<Array<{ _id: string }>>();
      const done = new Set(stored.map((digest) => digest._id));
      const held = new Set(claimed.map((mark) => mark._id));
      const ids = digested
        .filter((alert) => done.has(alert.digest_id ?? '') || !held.has(`dg:${alert._id}`))
        .map((alert) => alert._id);
      if (ids.length > 0)
        removed += (await this.notifications.deleteMany({ _id: { $in: ids } })).deletedCount;
      if (ids.length < digested.length || digested.length < 500) break;
    }
    return removed;
  }

  // True for exactly one caller per key (across instances): an insert on a unique _id. It lasts
  // `ttlMs` from `now`, the time the key is for (a digest's interval, a limit's window): on the
  // clock `purgeMarks` is given, never older than the moment it names.
  async mark(key: string, ttlMs: number, now = new Date()): Promise<boolean> {
    try {
      await this.marks.create({ _id: key, expires_at: new Date(now.getTime() + ttlMs) });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  // A rate limit's slot claims still kept (AlertLimiter, alert-slots.ts).
  async slotClaims(group: string): Promise<SlotClaim[]> {
    const found = await this.marks
      .find({ group }, { slot: 1, until: 1 })
      .lean<Array<{ slot?: number; until?: Date }>>();
    return found.map((claim) => ({ slot: Number(claim.slot), until: new Date(claim.until ?? 0).getTime() }));
  }

  // One slot claim: a unique insert, like `mark`; false when its key is taken.
  async claimSlot(claim: NewSlotClaim): Promise<boolean> {
    try {
      const { key, expires, ...rest } = claim;
      await this.marks.create({ _id: key, expires_at: expires, ...rest });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async purgeMarks(now: Date): Promise<void> {
    await this.marks.deleteMany({ expires_at: { $lt: now } });
  }

  async beat(instance: { id: string; host: string; pid: number; startedAt: Date }, now: Date): Promise<void> {
    await this.instances.updateOne(
      { _id: instance.id },
      { $set: { host: instance.host, pid: instance.pid, started_at: instance.startedAt, last_seen: now } },
      { upsert: true },
    );
  }

  async stale(before: Date): Promise<InstanceBeat[]> {
    return this.instances
      .find({ last_seen: { $lt: before } })
      .limit(50)
      .lean<InstanceBeat[]>();
  }

  async forget(instanceId: string): Promise<void> {
    await this.instances.deleteOne({ _id: instanceId });
  }

  private toRecord(document: NotificationDocument): NotificationRecord {
    const { _id, reason, ...rest } = document;
    return {
      ...rest,
      id: _id,
      kind: rest.kind as NotificationRecord['kind'],
      type: rest.type as NotificationRecord['type'],
      status: rest.status as NotificationRecord['status'],
      channels: rest.channels as NotificationRecord['channels'],
      sent: rest.sent as NotificationRecord['sent'],
      sent_to: rest.sent_to ?? [],
      at: new Date(rest.at),
      next_attempt_at: rest.next_attempt_at ? new Date(rest.next_attempt_at) : null,
      // one that cannot be decrypted (a key no longer listed, readable-content.ts) is left out: the
      // alert is still delivered and digested
      reason: reason ? readable(this.cipher, reason, { field: 'alert_reason', alert_id: _id }) : null,
    };
  }
}

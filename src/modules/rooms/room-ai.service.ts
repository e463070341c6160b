import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { BUS, type Bus } from '../../infra/bus/bus';
import { SETTINGS, type Settings } from '../../config/settings';
import { ROOM_AI_OFF, ROOM_AI_SENDER } from '../../protocol/rooms';
import { LlmRegistry } from '../llm/llm.registry';
import type { Connection } from '../realtime/connection';
import { RoomAiReplyService, type Running, type StopReason } from './room-ai-reply.service';
import { RoomAiRunsRepository, type RoomAiRunRecord } from './room-ai-runs.repository';
import { RoomAiUsageRepository } from './room-ai-usage.repository';
import { RoomHub } from './room-hub';
import { RoomMessagesService } from './room-messages.service';
import { isModerator, requireModerator } from './room-rules';
import type { RoomMessageRecord, RoomRecord } from './room.types';
import { newId } from '../../common/ids';
import { describeError } from '../../common/logging/logging';

const TOPIC = 'rooms-ai';
// how long the replies cut at the end of the grace have to be stored
const SHUTDOWN_WAIT_MS = 5_000;
// what an @ai asked of a stopping instance is told (its message is stored and acked)
const STOPPING_MESSAGE = 'The server is restarting; please ask again.';

type AiBusMessage = { k: 'stop'; room: string; reply: string; by: string };

// `@ai` in a room (docs/protocol.md, "@ai in a room"): after a member's message mentioning @ai was
// stored and acked, the room's model is asked with the room's recent history; the reply streams to
// every member's socket on every instance (ai_stream frames through RoomHub) and is then stored
// once through the one record path, billed to the room (chat_ai_usage). One reply at a time per
// room on every instance (chat_ai_runs); a stop from any instance reaches the one streaming (bus).
// The reply itself, streamed and stored, is RoomAiReplyService's.
@Injectable()
export class RoomAiService implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('rooms-ai');
  // replies streaming on this instance, by reply id
  private readonly running = new Map<string, Running>();
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  // set at SIGTERM: when the replies streaming here are cut
  private drainUntil?: number;

  constructor(
    private readonly messages: RoomMessagesService,
    private readonly hub: RoomHub,
    private readonly runs: RoomAiRunsRepository,
    private readonly usage: RoomAiUsageRepository,
    private readonly registry: LlmRegistry,
    private readonly replies: RoomAiReplyService,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => {
      const message = payload as AiBusMessage;
      if (message.k === 'stop') this.abort(message.reply, { kind: 'stopped', by: message.by });
    });
    this.sweepTimer = setInterval(
      () => (this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined))),
      this.replies.lease.sweepMs,
    );
    this.sweepTimer.unref();
  }

  // SIGTERM (Nest calls every onModuleDestroy before any shutdown hook): no reply starts here from
  // now on, and the grace of those streaming is counted from now
  onModuleDestroy(): void {
    clearInterval(this.sweepTimer);
    this.drainUntil = Date.now() + this.settings.shutdownGraceMs;
  }

  // Server stopping (docs/protocol.md, "Graceful shutdown"): the replies streaming here run until
  // SHUTDOWN_GRACE is over, as chat replies do (their drain, whose hook runs before this one, counts
  // in it); those still streaming then are cut, stored as interrupted, and their runs released. Until
  // the deploy audit they were all cut at once: an @ai reply ended `interrupted` 46 ms after SIGTERM.
  async beforeApplicationShutdown(): Promise<void> {
    const until = this.drainUntil ?? Date.now() + this.settings.shutdownGraceMs;
    await this.settled(until - Date.now());
    for (const replyId of [...this.running.keys()]) this.abort(replyId, { kind: 'shutdown' });
    await this.settled(SHUTDOWN_WAIT_MS);
    // a sweep under way reads and writes the store: over before the store client closes
    if (this.sweeping)
      await Promise.race([
        this.sweeping,
        new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WAIT_MS).unref()),
      ]);
  }

  // every reply streaming here ended, or `timeoutMs` passed
  private async settled(timeoutMs: number): Promise<void> {
    const done = [...this.running.values()].map((running) => running.done);
    if (done.length === 0 || timeoutMs <= 0) return;
    await Promise.race([Promise.all(done), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  // The model `@ai` asks in the room: its setting, the default model when unset or no longer
  // configured, undefined when off.
  modelOf(room: RoomRecord): string | undefined {
    if (room.ai_model === ROOM_AI_OFF) return undefined;
    return room.ai_model && this.registry.has(room.ai_model) ? room.ai_model : this.registry.defaultModelId;
  }

  // A room setting: a configured model, `off`, or null (the default).
  validateModel(model: string | null): void {
    if (model !== null && model !== ROOM_AI_OFF && !this.registry.has(model))
      throw new DomainException(ErrorCode.UNKNOWN_MODEL, `Unknown model "${model.slice(0, 64)}".`);
  }

  // After `asking` (a member's message mentioning @ai) was stored and acked: starts the reply and
  // returns at once (the stream runs on its own). Refused with AI_OFF or AI_BUSY (recoverable).
  async ask(room: RoomRecord, asking: RoomMessageRecord, origin?: Connection): Promise<void> {
    const modelId = this.modelOf(room);
    if (modelId === undefined) throw new DomainException(ErrorCode.AI_OFF);
    // stopping: no reply starts here (it would be cut at the end of the grace); the asker is told to
    // ask again (its socket is told to reconnect elsewhere: RoomsGateway)
    if (this.drainUntil !== undefined)
      throw new DomainException(ErrorCode.LLM_UNAVAILABLE, STOPPING_MESSAGE, { recoverable: true });
    const now = new Date();
    const run: RoomAiRunRecord = {
      room_id: room.id,
      reply_id: newId(),
      reply_to: asking.id,
      asker_id: asking.sender_id,
      model: modelId,
      instance: this.bus.instanceId,
      started_at: now,
      renewed_at: now,
    };
    if (!(await this.runs.start(run))) {
      // a run left behind by an instance that died is ended first
      const current = await this.runs.find(room.id);
      const stale =
        current !== null && current.renewed_at.getTime() < Date.now() - this.replies.lease.leaseMs;
      if (!stale || !(await this.endStale(current)) || !(await this.runs.start(run)))
        throw new DomainException(ErrorCode.AI_BUSY);
    }
    let finish!: () => void;
    const running: Running = {
      run,
      controller: new AbortController(),
      done: new Promise<void>((resolve) => (finish = resolve)),
    };
    this.running.set(run.reply_id, running);
    void this.replies
      .stream(room, asking, running, origin)
      .catch((error: unknown) =>
        this.logger.error(
          { room_id: room.id, reply_id: run.reply_id, event: 'room_ai_failed', err: describeError(error) },
          'room ai reply failed',
        ),
      )
      .finally(() => {
        this.running.delete(run.reply_id);
        finish();
      });
  }

  // Stops the reply streaming in the room: its asker, the room's owner and moderators, admins.
  async stop(principal: Principal, roomId: string, replyId: string): Promise<void> {
    const participant = principal.isAdmin
      ? null
      : (await this.messages.memberOf(roomId, principal.userId)).participant;
    const run = await this.runs.find(roomId);
    if (!run || run.reply_id !== replyId)
      throw new DomainException(ErrorCode.NOT_FOUND, 'That AI reply is not streaming (it may have ended).');
    if (run.asker_id !== principal.userId && !principal.isAdmin && !isModerator(participant))
      throw new DomainException(
        ErrorCode.FORBIDDEN,
        "Only the asker, the room's owner and moderators, and admins may stop the AI.",
        { recoverable: true },
      );
    // here, its model done already: it ends as it is, and the stop is not acked (RoomAiReplyService).
    // On another instance the stop goes there, and one that comes too late changes nothing either.
    if (this.running.get(replyId)?.finished)
      throw new DomainException(ErrorCode.NOT_FOUND, 'That AI reply is not streaming (it may have ended).');
    const reason: AiBusMessage = { k: 'stop', room: roomId, reply: replyId, by: principal.userId };
    if (!this.abort(replyId, { kind: 'stopped', by: principal.userId })) this.bus.publish(TOPIC, reason);
  }

  // The room's AI usage (billed to it): owners, moderators and admins.
  async usageOf(principal: Principal, roomId: string) {
    const participant = principal.isAdmin
      ? null
      : (await this.messages.memberOf(roomId, principal.userId)).participant;
    requireModerator(principal, participant);
    if (principal.isAdmin && !(await this.messages.room(roomId)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    return this.usage.total(roomId);
  }

  private abort(replyId: string, reason: StopReason): boolean {
    const running = this.running.get(replyId);
    if (!running) return false;
    if (!running.finished) running.controller.abort(reason);
    return true;
  }

  // A run whose instance died (its lease not renewed): its reply is stored as interrupted (empty, or
  // whatever that instance stored already), the room told it ended, the run released. true when
  // this instance released it.
  private async endStale(run: RoomAiRunRecord): Promise<boolean> {
    if (this.running.has(run.reply_id)) return false;
    const cutoff = new Date(Date.now() - this.replies.lease.leaseMs);
    if (!(await this.runs.takeStale(run.room_id, run.reply_id, cutoff))) return false;
    const room = await this.messages.room(run.room_id);
    if (!room) return true;
    const usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    await this.replies.store(room, run, '', {
      model: run.model,
      asker_id: run.asker_id,
      usage,
      outcome: 'interrupted',
      error: ErrorCode.INTERNAL,
    });
    this.hub.toRoom(room.id, {
      type: 'ai_stream',
      room_id: room.id,
      message_id: run.reply_id,
      user_id: ROOM_AI_SENDER,
      timestamp: new Date().toISOString(),
      metadata: {
        phase: 'end',
        reply_to: run.reply_to,
        asker_id: run.asker_id,
        model: run.model,
        outcome: 'interrupted',
      },
    });
    return true;
  }

  private async sweep(): Promise<void> {
    try {
      const stale = await this.runs.stale(new Date(Date.now() - this.replies.lease.leaseMs));
      for (const run of stale) await this.endStale(run);
    } catch (error) {
      this.logger.warn({ event: 'room_ai_sweep_failed', err: describeError(error) }, 'room ai sweep failed');
    }
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import type { LlmMessage, LlmUsage } from '../../infra/llm/llm-provider';
import { estimateUsage } from '../../infra/llm/tokens';
import {
  ROOM_AI_SENDER,
  type AiStreamFrame,
  type RoomAiInfo,
  type RoomAiOutcome,
} from '../../protocol/rooms';
import { ContextWindow } from '../llm/context-window';
import { LlmRegistry, type ModelEntry } from '../llm/llm.registry';
import { ModelStream, type ModelStreamResult } from '../llm/model-stream';
import type { Connection } from '../realtime/connection';
import { aiLeaseTimes, RunLease, type AiLeaseTimes } from './room-ai-lease';
import { AI_HISTORY_MESSAGES, roomAiInstructions, roomAiPrompt } from './room-ai-prompt';
import { RoomAiRunsRepository, type RoomAiRunRecord } from './room-ai-runs.repository';
import { LOST_OUTCOME, LOST_USAGE_SUFFIX, RoomAiUsageRepository } from './room-ai-usage.repository';
import { roomErrorFrame } from './room-frames';
import { RoomHub } from './room-hub';
import { RoomMessagesService } from './room-messages.service';
import type { RoomMessageRecord, RoomRecord } from './room.types';

// how long a reply's fan-out waits for its run's release (above)
const RELEASE_WAIT_MS = 1_000;

// 'lease_lost': the run's lease was lost under the reply (RunLease): the run is another instance's to
// end, and this reply says and stores nothing more
export type StopReason = { kind: 'stopped'; by: string } | { kind: 'shutdown' } | { kind: 'lease_lost' };

export interface Running {
  run: RoomAiRunRecord;
  controller: AbortController;
  done: Promise<void>;
  // the model's part is over (its store and `end` under way): a stop then changes nothing, and is
  // answered NOT_FOUND as one after the end is (RoomAiService.stop)
  finished?: boolean;
}

// One `@ai` reply, once RoomAiService has taken the room's run (docs/protocol.md, "@ai in a room"):
// the model asked with the room's recent history, the reply streamed to the room (ai_stream frames
// through RoomHub), then stored once through the one record path and billed to the room.
@Injectable()
export class RoomAiReplyService {
  private readonly logger = new Logger('rooms-ai');
  readonly lease: AiLeaseTimes;

  constructor(
    private readonly messages: RoomMessagesService,
    private readonly hub: RoomHub,
    private readonly runs: RoomAiRunsRepository,
    private readonly usage: RoomAiUsageRepository,
    private readonly registry: LlmRegistry,
    private readonly model: ModelStream,
    private readonly context: ContextWindow,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.lease = aiLeaseTimes(settings.rooms.aiLeaseMs);
  }

  // The reply from its `start` to its `end`; the caller keeps `running` until it returns.
  async stream(
    room: RoomRecord,
    asking: RoomMessageRecord,
    running: Running,
    origin?: Connection,
  ): Promise<void> {
    const { run, controller } = running;
    const entry = this.registry.entry(run.model);
    const frame = (phase: AiStreamFrame['metadata']['phase']): AiStreamFrame => ({
      type: 'ai_stream',
      room_id: room.id,
      message_id: run.reply_id,
      user_id: ROOM_AI_SENDER,
      timestamp: new Date().toISOString(),
      metadata: { phase, reply_to: run.reply_to, asker_id: run.asker_id, model: run.model },
    });
    // The run is this reply's while its lease holds (docs/protocol.md, "@ai in a room", a holder that
    // lost its run): each renewal names the run and matches only while it is live, and the reply
    // checks the lease before each piece goes out and before it ends. Until the paused-instance
    // audit (round 2) of session 43 neither was checked: an instance resumed from a pause past the
    // lease sent ~31 more pieces of a reply another instance had ended, then a second `end`
    // (`complete`), while the stored reply was the other's empty `interrupted` one billed 0 tokens
    // (3 of 3 runs).
    const lease = new RunLease(run.renewed_at.getTime(), this.lease.renewableMs);
    // (a reply stopped or cut by a shutdown whose lease is then lost ends so too: another instance
    // may have ended its run)
    const lost = () => {
      if (!lease.lost()) return false;
      if (!controller.signal.aborted) controller.abort({ kind: 'lease_lost' });
      return true;
    };
    const renewal = setInterval(() => {
      if (lost()) return;
      const sentAt = Date.now();
      void this.runs
        .renew(room.id, run.reply_id, new Date(sentAt), new Date(sentAt - this.lease.renewableMs))
        // (a renewal the store did not answer confirms nothing: the lease lapses on its own)
        .then(
          (matched) => lease.renewed(sentAt, matched),
          () => undefined,
        );
    }, this.lease.renewMs);
    renewal.unref();
    this.logger.log(
      {
        room_id: room.id,
        reply_id: run.reply_id,
        user_id: run.asker_id,
        model: run.model,
        event: 'room_ai_request',
      },
      'room ai request',
    );
    this.hub.toRoom(room.id, frame('start'));
    let prompt: LlmMessage[] = [];
    let result: ModelStreamResult;
    try {
      prompt = await this.prompt(room, asking, entry);
      result = await this.model.run(
        entry,
        // the room's history goes whole each time: no vendor-side conversation is kept
        { messages: prompt, signal: controller.signal, userId: run.asker_id, detached: true },
        { userId: run.asker_id, roomId: room.id },
        {
          onDelta: (text, offset) => {
            if (lost()) return;
            const delta = frame('delta');
            delta.content = text;
            delta.metadata.offset = offset;
            this.hub.toRoom(room.id, delta);
          },
        },
      );
    } catch (error) {
      result = { text: '', responseMs: 0, failure: error };
    } finally {
      clearInterval(renewal);
    }
    // how it ended, decided once, for the stored reply, its bill and the room's `end` alike: until a
    // rooms audit in session 40 a stop that came as the model finished was acked, and the room was
    // told `stopped` while the reply was stored and billed `complete` (4–12 of 16 rounds;
    // test/e2e/rooms-ai.e2e-spec.ts)
    running.finished = true;
    if (lost()) {
      await this.dropped(room, run, entry, prompt, result);
      return;
    }
    const reason = running.controller.signal.reason as StopReason | undefined;
    const outcome = this.outcomeOf(reason, result);
    // the room is free before any member hears the reply ended (its stored message, its `end`): a
    // member who asks again that instant is not refused AI_BUSY (docs/protocol.md, "@ai in a room")
    // The fan-out waits for the release RELEASE_WAIT_MS at most: a store slow to delete holds the
    // reply (and the room's messages after it) no longer than that.
    let released: Promise<void> | undefined;
    const release = () => {
      released ??= this.runs.finish(room.id, run.reply_id).catch(() => undefined);
      return Promise.race([
        released,
        new Promise<void>((resolve) => setTimeout(resolve, RELEASE_WAIT_MS).unref()),
      ]);
    };
    try {
      await this.settle(room, running, entry, prompt, result, { reason, outcome }, release, origin);
    } finally {
      await release();
      this.hub.toRoom(room.id, {
        ...frame('end'),
        metadata: { ...frame('end').metadata, outcome },
      });
    }
  }

  // A reply whose run's lease was lost: nothing more goes out (no piece, no `end`) and no message is
  // stored; the run is left to whoever ends it (the other instance did, or the sweep will: the room
  // then gets one stored `interrupted` reply and one `end`). What the vendor spent on it is billed to
  // the room all the same, apart (`<reply id>:lost`, outcome `lease_lost`, not counted as a reply):
  // the room's asker caused it, and the reply's own bill is the one stored with it.
  private async dropped(
    room: RoomRecord,
    run: RoomAiRunRecord,
    entry: ModelEntry,
    prompt: LlmMessage[],
    result: ModelStreamResult,
  ): Promise<void> {
    const usage: LlmUsage =
      result.usage ??
      (result.text.length === 0
        ? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
        : estimateUsage(prompt, result.text));
    this.model.settled(entry, { usage, responseMs: result.responseMs, outcome: 'stopped' });
    this.logger.log(
      {
        room_id: room.id,
        reply_id: run.reply_id,
        model: run.model,
        event: 'room_ai_dropped_lease_lost',
        tokens: usage.total_tokens,
        response_ms: result.responseMs,
      },
      'room ai reply not stored: its run was lost',
    );
    if (usage.total_tokens === 0) return;
    await this.usage.record({
      reply_id: `${run.reply_id}${LOST_USAGE_SUFFIX}`,
      room_id: room.id,
      model: run.model,
      asker_id: run.asker_id,
      outcome: LOST_OUTCOME,
      ...usage,
      at: new Date(),
    });
  }

  // The room's recent history (up to the asking message), fitted to the model's context, after a
  // system turn saying where the model speaks.
  private async prompt(
    room: RoomRecord,
    asking: RoomMessageRecord,
    entry: ModelEntry,
  ): Promise<LlmMessage[]> {
    const history = await this.messages.recent(room.id, asking.seq, AI_HISTORY_MESSAGES);
    const instructions = roomAiInstructions(room.name);
    const fitted = this.context.fit(roomAiPrompt(history), {
      contextTokens: entry.settings.context_tokens,
      maxTokens: entry.settings.max_tokens,
      systemPrompt: [entry.settings.system_prompt, instructions].filter(Boolean).join('\n\n'),
    });
    return [{ role: 'system', content: instructions }, ...fitted];
  }

  private outcomeOf(reason: StopReason | undefined, result: ModelStreamResult): RoomAiOutcome {
    if (reason?.kind === 'stopped') return 'stopped';
    if (reason?.kind === 'shutdown') return 'interrupted';
    if (result.failure !== undefined) return result.text.length > 0 ? 'interrupted' : 'failed';
    return 'complete';
  }

  // The end of a reply: the asker told of a model failure, the reply stored once (its text so far,
  // or an empty marker) through the record path, its usage billed to the room.
  private async settle(
    room: RoomRecord,
    running: Running,
    entry: ModelEntry,
    prompt: LlmMessage[],
    result: ModelStreamResult,
    { reason, outcome }: { reason: StopReason | undefined; outcome: RoomAiOutcome },
    release: () => Promise<void>,
    origin?: Connection,
  ): Promise<void> {
    const { run } = running;
    const failed = result.failure !== undefined && reason === undefined;
    const caller = { userId: run.asker_id, roomId: room.id };
    // the asker is told of a failure once the room is free again: "try again" is true when heard
    const kind = failed ? this.model.failed(entry, caller, result.failure, result.text.length) : undefined;
    // only to a member: an asker kicked or gone meanwhile hears nothing more of the room (until the
    // second rooms audit fix the error named the room after the kick)
    const tell = async () => {
      if (kind === undefined || !origin || origin.closed) return;
      const member = await this.messages.memberOf(room.id, origin.principal.userId).then(
        () => true,
        () => false,
      );
      if (!member || origin.closed) return;
      this.hub.send(
        origin,
        roomErrorFrame(
          origin.principal.userId,
          ErrorCode.LLM_UNAVAILABLE,
          kind === 'unavailable'
            ? 'The AI is unavailable right now; please try again.'
            : 'The AI reply was cut off; please try again.',
          { recoverable: true, roomId: room.id, retryAfterMs: this.model.retryAfterOf(result.failure) },
        ),
      );
    };
    // nothing came from the vendor: nothing billed
    const usage: LlmUsage =
      result.usage ??
      (failed && result.text.length === 0
        ? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
        : estimateUsage(prompt, result.text));
    const info: RoomAiInfo = { model: run.model, asker_id: run.asker_id, usage, outcome };
    if (reason?.kind === 'stopped') info.stopped_by = reason.by;
    if (failed) info.error = ErrorCode.LLM_UNAVAILABLE;
    try {
      await this.store(room, run, result.text, info, release);
    } finally {
      await release();
      await tell();
    }
    this.model.settled(entry, {
      usage,
      responseMs: result.responseMs,
      outcome: failed ? undefined : reason ? 'stopped' : 'ok',
    });
    this.logger.log(
      {
        room_id: room.id,
        reply_id: run.reply_id,
        model: run.model,
        event: 'room_ai_reply',
        outcome,
        tokens: usage.total_tokens,
        response_ms: result.responseMs,
      },
      'room ai reply stored',
    );
  }

  // Stored once whoever stores it (the message by its id, the usage by the reply id).
  async store(
    room: RoomRecord,
    run: RoomAiRunRecord,
    text: string,
    info: RoomAiInfo,
    release?: () => Promise<void>,
  ): Promise<void> {
    await this.messages.record(
      room,
      {
        id: run.reply_id,
        room_id: room.id,
        sender_id: ROOM_AI_SENDER,
        kind: 'text',
        content: text.length > 0 ? text : undefined,
        reply_to: run.reply_to,
        metadata: { ai: info },
      },
      undefined,
      release,
    );
    await this.usage.record({
      reply_id: run.reply_id,
      room_id: room.id,
      model: run.model,
      asker_id: run.asker_id,
      outcome: info.outcome,
      ...info.usage,
      at: new Date(),
    });
  }
}

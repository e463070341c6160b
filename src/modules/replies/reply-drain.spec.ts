import type { ClientHub } from '../realtime/client-hub';
import type { LlmRegistry, ModelEntry } from '../llm/llm.registry';
import type { ModelStream, ModelStreamHooks } from '../llm/model-stream';
import type { SessionTitler } from '../llm/session-titler';
import type { SessionsService } from '../sessions/sessions.service';
import type { LlmRequest } from '../../infra/llm/llm-provider';
import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { ReplyPrompt } from './reply-prompt';
import type { ReplyRecorder } from './reply-recorder';
import { ReplyService } from './reply.service';

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

// A graceful stop (docs/protocol.md, "Graceful shutdown"): the reply streaming at SIGTERM runs to its
// end; one queued behind it is not started, and the session's reply lease is let go as soon as the
// first is stored (the e2e: test/e2e/shutdown-drain.e2e-spec.ts).
describe('ReplyService drain', () => {
  function instance() {
    // the session's holders, as Redis keeps them
    const holders = new Set<string>();
    const leases: ReplyLeases = {
      shared: true,
      away: false,
      outage: false,
      hold: () => {
        const token = Math.random().toString(36);
        holders.add(token);
        return () => holders.delete(token);
      },
      lost: () => false,
      held: () => Promise.resolve(holders.size > 0),
      heldElsewhere: () => Promise.resolve(false),
      claim: () => Promise.resolve(true),
      answeringElsewhere: () => Promise.resolve(false),
      close: () => Promise.resolve(),
    };
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const streaming = new Promise<void>((resolve) => (started = resolve));
    const frames: Array<{ type: string; client_id?: string; error?: { code: string } }> = [];
    const hub = { ephemeral: jest.fn((_: string, frame: (typeof frames)[number]) => frames.push(frame)) };
    const model = {
      run: jest.fn(async (_: ModelEntry, request: LlmRequest, __: unknown, hooks: ModelStreamHooks) => {
        hooks.onDelta('whole ', 0);
        started();
        await Promise.race([
          finished,
          new Promise((resolve) => request.signal?.addEventListener('abort', resolve)),
        ]);
        hooks.onDelta('reply', 6);
        return { text: 'whole reply', responseMs: 1, failure: undefined };
      }),
    };
    const recorded: Array<{ clientId?: string; text: string; reason?: string }> = [];
    const recorder = {
      onLeaseLost: jest.fn(),
      record: jest.fn(async (outcome: (typeof recorded)[number]) => {
        recorded.push({ clientId: outcome.clientId, text: outcome.text, reason: outcome.reason });
        return undefined;
      }),
    };
    const entry = { provider: { stateful: false } } as unknown as ModelEntry;
    const replies = new ReplyService(
      { lastSeq: () => 0 } as unknown as SessionsService,
      { has: () => true, entry: () => entry, defaultModelId: 'demo' } as unknown as LlmRegistry,
      hub as unknown as ClientHub,
      model as unknown as ModelStream,
      {} as SessionTitler,
      recorder as unknown as ReplyRecorder,
      { assemble: async () => ({ messages: [], history: [], prompt: [] }) } as unknown as ReplyPrompt,
      leases,
    );
    return { replies, holders, frames, model, recorded, finish, streaming };
  }

  it('should let the reply streaming at SIGTERM end whole, not start the one queued behind it, and let the lease go', async () => {
    const { replies, holders, frames, model, recorded, finish, streaming } = instance();
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'one' });
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'two' });
    await streaming;
    replies.onModuleDestroy();
    let drained = false;
    const draining = replies.drain(60_000).then(() => (drained = true));
    await tick();
    // the reply streaming runs on: the drain waits for it
    expect(drained).toBe(false);
    expect(holders.size).toBe(1);
    finish();
    await draining;
    expect(recorded).toEqual([{ clientId: 'one', text: 'whole reply', reason: undefined }]);
    // the queued one was never started: its turn is left open for another instance, whose turn
    // watch may claim the session at once
    expect(model.run).toHaveBeenCalledTimes(1);
    expect(replies.answering('s')).toBe(false);
    expect(holders.size).toBe(0);
    expect(frames.filter((frame) => frame.type === 'error')).toEqual([]);
    await replies.stopAll('shutdown');
    expect(recorded).toHaveLength(1);
  });

  it('should start nothing asked for once stopping, and tell the devices of a regeneration to ask again', async () => {
    const { replies, holders, frames, model } = instance();
    replies.onModuleDestroy();
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'turn' });
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'again', alternativeOf: 'r1' });
    await replies.drain(60_000);
    expect(model.run).not.toHaveBeenCalled();
    expect(replies.answering('s')).toBe(false);
    expect(holders.size).toBe(0);
    expect(frames).toEqual([
      expect.objectContaining({
        type: 'error',
        client_id: 'again',
        error: expect.objectContaining({ code: 'LLM_UNAVAILABLE' }),
      }),
    ]);
    expect(
      replies.early({
        sessionId: 's',
        userId: 'u',
        clientId: 'early',
        message: { id: 'm', type: 'user_message', sender: 'user', content: 'x', timestamp: new Date() },
      }),
    ).toBeUndefined();
  });
});

import type { ClientHub } from '../realtime/client-hub';
import type { LlmRegistry, ModelEntry } from '../llm/llm.registry';
import type { ModelStream, ModelStreamHooks } from '../llm/model-stream';
import type { SessionTitler } from '../llm/session-titler';
import type { SessionsService } from '../sessions/sessions.service';
import type { LlmRequest } from '../../infra/llm/llm-provider';
import type { ReplyPrompt } from './reply-prompt';
import type { ReplyRecorder } from './reply-recorder';
import { ReplyService } from './reply.service';

function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

// A takeover's admin_join waits for the replies it cut off to be stored (docs/protocol.md, "Takeover
// handoff"): only those that showed something. A reply asked for after the takeover began shows
// nothing (fenced) and stores nothing; waiting for it too let a user who kept writing hold the
// admin's join back for the whole wait (the admin fuzz: probes unanswered for 5 s).
describe('ReplyService.settled', () => {
  it('should wait for the reply the takeover cut off mid-stream until it is stored, and not for replies queued behind it', async () => {
    const firstPrompt = gate();
    const secondPrompt = gate();
    const stored = gate();
    let prompts = 0;
    const prompt = {
      assemble: jest.fn(async () => {
        prompts++;
        if (prompts === 2) await secondPrompt.opened;
        return { messages: [], history: [], prompt: [] };
      }),
    };
    const shown: unknown[] = [];
    const hub = { ephemeral: jest.fn((_: string, frame: unknown) => shown.push(frame)) };
    const model = {
      run: jest.fn(async (_: ModelEntry, request: LlmRequest, __: unknown, hooks: ModelStreamHooks) => {
        hooks.onDelta('part', 0);
        firstPrompt.open();
        if (!request.signal?.aborted)
          await new Promise((resolve) => request.signal?.addEventListener('abort', resolve));
        return { text: 'part', responseMs: 1, failure: undefined };
      }),
    };
    let recorded = 0;
    const recorder = {
      record: jest.fn(async () => {
        await stored.opened;
        recorded++;
        return undefined;
      }),
    };
    const entry = { provider: { stateful: false } } as unknown as ModelEntry;
    const registry = { has: () => true, entry: () => entry, defaultModelId: 'demo' };
    const replies = new ReplyService(
      { lastSeq: () => 0 } as unknown as SessionsService,
      registry as unknown as LlmRegistry,
      hub as unknown as ClientHub,
      model as unknown as ModelStream,
      {} as SessionTitler,
      recorder as unknown as ReplyRecorder,
      prompt as unknown as ReplyPrompt,
    );
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'one' });
    await firstPrompt.opened;
    // the user writes again while the first reply streams, and an admin takes the session over
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'two' });
    replies.takeoverStarted('s', 1, Date.now());
    let settled = false;
    const waiting = replies.settled('s', 60_000).then(() => (settled = true));
    await tick();
    // the cut-off reply showed 'part': it is stored before the admin_join
    expect(settled).toBe(false);
    stored.open();
    await waiting;
    expect(recorded).toBe(1);
    // the second reply is still being asked for: fenced, it will show nothing
    expect(replies.answering('s')).toBe(true);
    secondPrompt.open();
    while (replies.answering('s')) await tick();
    expect(shown.filter((frame) => (frame as { type: string }).type === 'ai_response')).toHaveLength(1);
    expect(recorded).toBe(2);
  });
});

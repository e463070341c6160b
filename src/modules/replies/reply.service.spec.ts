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
      onLeaseLost: jest.fn(),
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
    // the fenced one went no further: not asked of the model, nothing of it shown (not even its
    // loading frame) nor handed to the recorder (session 39; until then it was asked and recorded as
    // nothing, and its loading frames went out after the admin's join)
    expect(model.run).toHaveBeenCalledTimes(1);
    expect(shown.filter((frame) => (frame as { client_id?: string }).client_id === 'two')).toEqual([]);
    expect(recorded).toBe(1);
  });
});

// Each instance holds the session's reply lease while it may still show or store a reply of it: the
// takeover on another instance waits for that. A reply only queued on an instance that heard of the
// takeover is cut before its first piece, so that instance lets the lease go: a user writing there
// (each message asking for a reply, each fenced) held the admin's join on the other instance back for
// the whole wait.
describe('ReplyService reply lease across instances', () => {
  // the leases as Redis keeps them: per session, the instances holding it
  class SharedLeases {
    readonly holders = new Map<string, Set<string>>();
    for(instance: string): ReplyLeases {
      const holders = (session: string) => {
        let set = this.holders.get(session);
        if (!set) this.holders.set(session, (set = new Set()));
        return set;
      };
      return {
        shared: true,
        away: false,
        outage: false,
        hold: (session) => {
          holders(session).add(instance);
          return () => holders(session).delete(instance);
        },
        lost: () => false,
        held: (session) => Promise.resolve(holders(session).size > 0),
        heldElsewhere: (session) =>
          Promise.resolve([...holders(session)].some((holder) => holder !== instance)),
        claim: () => Promise.resolve(true),
        answeringElsewhere: () => Promise.resolve(false),
        close: () => Promise.resolve(),
      };
    }
  }

  function instance(
    leases: ReplyLeases,
    options: { promptGate?: Promise<void>; streamGate?: Promise<void> },
  ) {
    const shown: unknown[] = [];
    const hub = { ephemeral: jest.fn((_: string, frame: unknown) => shown.push(frame)) };
    const prompt = {
      assemble: jest.fn(async () => {
        await options.promptGate;
        return { messages: [], history: [], prompt: [] };
      }),
    };
    const model = {
      run: jest.fn(async (_: ModelEntry, request: LlmRequest, __: unknown, hooks: ModelStreamHooks) => {
        hooks.onDelta('part', 0);
        await Promise.race([
          options.streamGate,
          new Promise((resolve) => request.signal?.addEventListener('abort', resolve)),
        ]);
        return { text: 'part', responseMs: 1, failure: undefined };
      }),
    };
    const recorded: string[] = [];
    const recorder = {
      onLeaseLost: jest.fn(),
      record: jest.fn(async (outcome: { text: string }) => {
        recorded.push(outcome.text);
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
      leases,
    );
    return { replies, shown, recorded };
  }

  const within = (promise: Promise<unknown>, ms: number) =>
    Promise.race([
      promise.then(() => 'settled'),
      new Promise((resolve) => setTimeout(() => resolve('waiting'), ms)),
    ]);

  it("should not hold another instance's admin_join back for replies only queued here when the takeover starts", async () => {
    const shared = new SharedLeases();
    const prompt = gate();
    const a = instance(shared.for('a'), {});
    const b = instance(shared.for('b'), { promptGate: prompt.opened });
    // the user, on instance b, keeps writing: each message asks for a reply, queued behind a prompt
    b.replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'one' });
    b.replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'two' });
    // an admin takes the session over on instance a; the takeover's start reaches both
    const now = Date.now();
    a.replies.takeoverStarted('s', 1, now, now);
    b.replies.takeoverStarted('s', 1, now, now);
    // and the user writes on through the wait
    b.replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'three' });
    expect(await within(a.replies.settled('s', 60_000), 2_000)).toBe('settled');
    expect(b.replies.answering('s')).toBe(true);
    prompt.open();
    while (b.replies.answering('s')) await tick();
    // every one of them was cut before its first piece: nothing shown, nothing stored
    expect(b.shown.filter((frame) => (frame as { type: string }).type === 'ai_response')).toHaveLength(0);
    expect(b.recorded.every((text) => text === '')).toBe(true);
    expect(shared.holders.get('s')?.size ?? 0).toBe(0);
  });

  it('should hold it for a reply shown there until it is stored, and take it again when the takeover ends', async () => {
    const shared = new SharedLeases();
    const queued = gate();
    const a = instance(shared.for('a'), {});
    let prompts = 0;
    const b = instance(shared.for('b'), {});
    const firstShown = gate();
    // the first reply streams (shown); the second waits for its prompt
    (b.replies as unknown as { prompt: { assemble: () => Promise<unknown> } }).prompt.assemble = async () => {
      prompts++;
      if (prompts === 1) firstShown.open();
      else await queued.opened;
      return { messages: [], history: [], prompt: [] };
    };
    b.replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'one' });
    b.replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'two' });
    await firstShown.opened;
    await tick();
    const now = Date.now();
    a.replies.takeoverStarted('s', 1, now, now);
    // b has not heard of it yet: its reply streams on, and a waits
    const waiting = a.replies.settled('s', 60_000);
    expect(await within(waiting, 200)).toBe('waiting');
    b.replies.takeoverStarted('s', 1, now, now);
    // b's shown reply is cut and stored with what it showed; then b lets the lease go
    expect(await within(waiting, 2_000)).toBe('settled');
    expect(b.recorded).toEqual(['part']);
    expect(b.replies.answering('s')).toBe(true);
    // the takeover ends: b's queued reply may show again, so b holds the lease again
    b.replies.takeoverClosed('s', 1);
    expect(await shared.for('a').heldElsewhere('s')).toBe(true);
    queued.open();
    while (b.replies.answering('s')) await tick();
    expect(shared.holders.get('s')?.size ?? 0).toBe(0);
  });
});

// Dify's output moderation replaces the whole reply (message_replace): the replacement is what is
// stored and what a device resuming mid-reply is shown (docs/protocol.md, "Vendor streams end with
// the vendor's end"); the devices that showed the pieces take the final frame's content.
describe('ReplyService replaced reply', () => {
  it('should store the replacement and show it as the text so far, sending as a piece only what it adds', async () => {
    const replaced = gate();
    const resumed = gate();
    const shown: Array<{ type: string; metadata?: Record<string, unknown> }> = [];
    const hub = { ephemeral: jest.fn((_: string, frame: (typeof shown)[number]) => shown.push(frame)) };
    const model = {
      run: jest.fn(async (_: ModelEntry, __: LlmRequest, ___: unknown, hooks: ModelStreamHooks) => {
        hooks.onDelta('FLAGGED ', 0);
        hooks.onDelta('CONTENT', 8);
        hooks.onReplace?.('Sorry.');
        replaced.open();
        await resumed.opened;
        hooks.onDelta(' Ask again.', 6);
        hooks.onReplace?.('Sorry. Ask again. Please.');
        return { text: 'Sorry. Ask again. Please.', responseMs: 1, failure: undefined };
      }),
    };
    const recorded: string[] = [];
    const recorder = {
      onLeaseLost: jest.fn(),
      record: jest.fn(async (outcome: { text: string }) => {
        recorded.push(outcome.text);
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
    );
    replies.request({ sessionId: 's', userId: 'u', modelId: 'demo', clientId: 'one' });
    await replaced.opened;
    // what a socket resuming now is shown (ConnectionsService reads the reply in flight)
    expect(replies.inFlight('s')?.text).toBe('Sorry.');
    resumed.open();
    while (replies.answering('s')) await tick();
    expect(recorded).toEqual(['Sorry. Ask again. Please.']);
    const pieces = shown
      .filter((frame) => frame.type === 'ai_response')
      .map((frame) => [frame.metadata?.delta, frame.metadata?.offset]);
    expect(pieces).toEqual([
      ['FLAGGED ', 0],
      ['CONTENT', 8],
      [' Ask again.', 6],
      [' Please.', 17],
    ]);
  });
});

import { Logger } from '@nestjs/common';
import type { ModelStream } from '../llm/model-stream';
import type { ModelEntry } from '../llm/llm.registry';
import type { ChatMetrics } from '../metrics/chat-metrics';
import type { ClientHub } from '../realtime/client-hub';
import { TurnAnswered } from '../sessions/session.types';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { SessionsService } from '../sessions/sessions.service';
import type { ReplyAttachments } from './reply-attachments';
import { ReplyRecorder, type ReplyOutcome } from './reply-recorder';

// The fences at a reply's store (docs/protocol.md, "Every acked turn ends", the reply lease): the
// pause audit of session 43 had an instance paused past its reply lease resume and store its reply
// to a turn the other instance had answered meanwhile (two replies, two `done`: 6 of 6 rounds).
describe(ReplyRecorder.name, () => {
  const setup = (append: jest.Mock, kept: unknown[] = []) => {
    const hub = { toSession: jest.fn(), ephemeral: jest.fn() };
    const metrics = { messagesOut: { inc: jest.fn() }, regenerations: { inc: jest.fn() } };
    const model = { failed: jest.fn(), settled: jest.fn(), retryAfterOf: jest.fn() };
    const attachments = { collect: jest.fn().mockResolvedValue(kept), release: jest.fn() };
    const recorder = new ReplyRecorder(
      { append } as unknown as SessionsService,
      hub as unknown as ClientHub,
      metrics as unknown as ChatMetrics,
      model as unknown as ModelStream,
      attachments as unknown as ReplyAttachments,
    );
    const logged = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    return { recorder, hub, logged, attachments };
  };
  afterEach(() => jest.restoreAllMocks());

  const outcome = (overrides: Partial<ReplyOutcome> = {}): ReplyOutcome => ({
    sessionId: 's1',
    replyId: 'r1',
    clientId: 'c1',
    modelId: 'demo',
    text: 'the answer',
    userId: 'u1',
    entry: { provider: { vendor: 'demo' } } as unknown as ModelEntry,
    prompt: [],
    files: [],
    responseMs: 10,
    failure: undefined,
    replyTo: 'm1',
    turnSeq: 3,
    ...overrides,
  });
  const events = (logged: jest.SpyInstance) =>
    logged.mock.calls.map(([fields]) => (fields as { event?: string }).event);

  it("should store a reply to a turn only while the turn is unanswered, a regeneration's without that fence", async () => {
    const append = jest.fn().mockResolvedValue({
      message: { id: 'r1', seq: 4, type: 'ai_response', sender: 'ai', timestamp: new Date() },
    });
    const { recorder } = setup(append);
    await recorder.record(outcome());
    expect(append.mock.calls[0][3]).toEqual({ takeover: null, unanswered: 3 });
    await recorder.record(outcome({ alternativeOf: 'r0' }));
    expect(append.mock.calls[1][3]).toEqual({ takeover: null, unanswered: undefined });
    await recorder.record(outcome({ replyTo: undefined, turnSeq: undefined }));
    expect(append.mock.calls[2][3]).toEqual({ takeover: null, unanswered: undefined });
  });

  it('should drop a reply whose turn was answered meanwhile, silently: no done, no error', async () => {
    const append = jest.fn().mockRejectedValue(new TurnAnswered(3));
    const { recorder, hub, logged } = setup(append);
    expect(await recorder.record(outcome())).toBeUndefined();
    expect(hub.toSession).not.toHaveBeenCalled();
    expect(hub.ephemeral).not.toHaveBeenCalled();
    expect(events(logged)).toEqual(['reply_dropped_turn_answered']);
  });

  it('should store nothing of a reply whose lease was lost, whatever it showed', async () => {
    const append = jest.fn();
    const { recorder, hub, logged } = setup(append);
    // the turn watch is told, so the turn is answered once the lease is free
    const told: string[][] = [];
    recorder.onLeaseLost((sessionId, userId) => told.push([sessionId, userId]));
    for (const text of ['', 'half of it'])
      expect(await recorder.record(outcome({ text, reason: 'lease_lost' }))).toBeUndefined();
    expect(told).toEqual([
      ['s1', 'u1'],
      ['s1', 'u1'],
    ]);
    expect(append).not.toHaveBeenCalled();
    expect(hub.toSession).not.toHaveBeenCalled();
    expect(hub.ephemeral).not.toHaveBeenCalled();
    expect(events(logged)).toEqual(['reply_dropped_lease_lost', 'reply_dropped_lease_lost']);
  });

  // Found by the paused-uploads audit of session 44 (by reading): a dropped reply's speech stayed in
  // the user's files and quota for good, attached to the session
  it("should release the files kept for a reply dropped for certain, and keep them when its store's outcome is unknown", async () => {
    const speech = { kind: 'audio', source: 'tts', file_id: 'f1', file_url: '/chat/files/f1' };
    const drops = [
      new TurnAnswered(3),
      new DomainException(ErrorCode.SESSION_LOCKED, 'locked'),
      new DomainException(ErrorCode.NOT_FOUND, 'gone'),
    ];
    for (const error of drops) {
      const { recorder, attachments } = setup(jest.fn().mockRejectedValue(error), [speech]);
      expect(await recorder.record(outcome())).toBeUndefined();
      expect(attachments.release).toHaveBeenCalledWith('s1', [speech]);
    }
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { recorder, attachments } = setup(jest.fn().mockRejectedValue(new Error('socket hang up')), [
      speech,
    ]);
    expect(await recorder.record(outcome())).toBeUndefined();
    expect(attachments.release).not.toHaveBeenCalled();
  });
});

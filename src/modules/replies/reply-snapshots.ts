import { newId } from '../../common/ids';
import type { Bus } from '../../infra/bus/bus';
import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { Generation } from './reply-generation';

// The reply in flight as a socket resuming on another instance is shown it: its text so far.
export interface ReplySnapshot {
  replyId: string;
  clientId?: string;
  modelId: string;
  text: string;
}

// on the replies topic: "who streams session S?", and the answer, to the instance that asked
export type SnapshotBusMessage =
  | { k: 'ask'; session: string; nonce: string }
  | { k: 'text'; nonce: string; to: string; reply: ReplySnapshot | null };

// A socket that resumes a session mid-reply is shown the reply's text so far, then its live pieces
// (docs/protocol.md, "Resume"). The instance streaming it may be another one: the socket's instance
// asks on the bus and the streaming instance answers with the reply's text as it is at that moment.
// Both go over the bus's one publisher and one subscriber per instance, which Redis keeps in order:
// every piece the streaming instance sent before its answer reaches the asking instance first (it
// waits in the socket's `pending` while the resume runs), and every later one starts at or past the
// answer's end (its offset), so none is shown twice and none is missed.
export class ReplySnapshots {
  private readonly waiting = new Map<string, (reply: ReplySnapshot | undefined) => void>();

  constructor(
    private readonly topic: string,
    private readonly bus: Bus | undefined,
    private readonly leases: ReplyLeases,
    // the session's reply shown here, if any; whether one is asked for here at all
    private readonly here: (sessionId: string) => { answering: boolean; shown?: Generation },
  ) {}

  // The reply of the session streaming on another instance, or undefined: none (no other instance
  // holds the session's reply lease), nothing shown there yet, or no answer within `timeoutMs`.
  async elsewhere(sessionId: string, timeoutMs: number): Promise<ReplySnapshot | undefined> {
    if (!this.bus || this.bus.kind !== 'redis') return undefined;
    if (!(await this.leases.heldElsewhere(sessionId).catch(() => false))) return undefined;
    const nonce = newId();
    return new Promise<ReplySnapshot | undefined>((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (reply: ReplySnapshot | undefined) => {
        clearTimeout(timer);
        this.waiting.delete(nonce);
        resolve(reply);
      };
      this.waiting.set(nonce, done);
      this.bus?.publish(this.topic, { k: 'ask', session: sessionId, nonce } satisfies SnapshotBusMessage);
    });
  }

  // A message of the topic from instance `from`: an ask is answered when a reply of the session is
  // asked for here (the text so far, or null while nothing of it is shown); an answer to this
  // instance settles its wait. Anything else is ignored (the bus is shared with other versions).
  receive(message: Record<string, unknown>, from: string): void {
    if (message.k === 'ask' && typeof message.session === 'string' && typeof message.nonce === 'string') {
      const { answering, shown } = this.here(message.session);
      if (!answering) return;
      const reply = shown
        ? { replyId: shown.replyId, clientId: shown.clientId, modelId: shown.modelId, text: shown.text }
        : null;
      this.bus?.publish(this.topic, {
        k: 'text',
        nonce: message.nonce,
        to: from,
        reply,
      } satisfies SnapshotBusMessage);
      return;
    }
    if (message.k === 'text' && message.to === this.bus?.instanceId && typeof message.nonce === 'string')
      this.waiting.get(message.nonce)?.(snapshotOf(message.reply));
  }
}

function snapshotOf(value: unknown): ReplySnapshot | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { replyId, clientId, modelId, text } = value as Record<string, unknown>;
  if (typeof replyId !== 'string' || typeof modelId !== 'string' || typeof text !== 'string')
    return undefined;
  return { replyId, clientId: typeof clientId === 'string' ? clientId : undefined, modelId, text };
}

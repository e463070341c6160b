import type { EphemeralFrame } from '../../protocol/frames';
import type { ClientHub } from '../realtime/client-hub';
import type { ReplyFences } from './reply-fences';
import type { Generation } from './reply-generation';
import type { StopsBeforeShown } from './reply-stops';

// The replies shown on this instance: a reply becomes the session's reply in flight, and its frames
// go out once it is shown (ReplyService hands it to the parts that show and stream replies).
export class ReplyVisibility {
  constructor(
    private readonly hub: ClientHub,
    private readonly fences: ReplyFences,
    // the session's reply in flight here, per session
    private readonly running: Map<string, Generation>,
    private readonly stopsBeforeShown: StopsBeforeShown,
    // the session's reply lease held or let go as a reply shows (ReplyHolds.sync)
    private readonly sync: (sessionId: string) => void,
  ) {}

  // A reply of the session shown here may still be stored: one a takeover cut before its first piece
  // stores nothing (ReplyRecorder). Each reply queued behind a takeover is shown and cut at once, one
  // after the other: counting those kept the lease held nearly all the time while a user wrote on.
  storing(sessionId: string): boolean {
    const generation = this.running.get(sessionId);
    if (!generation) return false;
    const signal = generation.controller.signal;
    return !(signal.aborted && signal.reason === 'takeover' && generation.text === '');
  }

  // The reply becomes visible: it is the session's reply in flight and its held frames go out.
  show(generation: Generation): void {
    this.running.set(generation.sessionId, generation);
    generation.shown = true;
    this.stopsBeforeShown.apply(generation);
    const held = generation.held ?? [];
    generation.held = undefined;
    // a takeover came while it waited for its message: none of it is shown, none of it is stored (a
    // user's stop: it is stored empty, flagged stopped, as after a stop before the first token)
    if (this.fences.cut(generation)) {
      generation.text = '';
      return;
    }
    this.sync(generation.sessionId);
    for (const frame of held) this.hub.ephemeral(generation.sessionId, frame);
  }

  // A frame of the reply: held while the reply waits for its message to be stored.
  emit(generation: Generation, frame: EphemeralFrame): void {
    if (generation.held) generation.held.push(frame);
    else this.hub.ephemeral(generation.sessionId, frame);
  }
}

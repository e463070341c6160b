import type { RoomServerFrame } from '../../protocol/rooms';
import { isStoredRoomFrame } from './room-frames';

// The live frames of a room that wait for one socket while its join replays history (or while the
// bus's resync reads memberships again): they go out after it, in order, each stored message once
// (RoomHub.ready, SeqOrder). A join's replay runs as long as its client takes to read it, so what
// waits for it is bounded (docs/protocol.md, "Rooms", "Join replays"):
// - a stored message the replay has sent already is not kept (ready() would drop it anyway);
// - past `maxMessages` stored messages kept, the next are not kept either, only the highest seq of
//   them (`passedOver`): the store holds them, and the replay reads on through it before it ends;
// - of a user's `typing` frames only the last is kept (it says what the user does now), after the
//   rest: a busy room's typing does not fill what waits;
// - past `maxOthers` frames of other kinds (edits, reactions, presence…), add() answers false: the
//   socket is too slow for its room and is closed (1013), as any slow client is.
export class HeldFrames {
  private readonly kept: RoomServerFrame[] = [];
  private readonly typing = new Map<string, RoomServerFrame>();
  // the stored messages among `frames`
  private messages = 0;
  // the replay sent every stored message up to here
  private sent = 0;
  // the highest seq of a stored message not kept for want of room (0: none)
  passedOver = 0;

  constructor(
    private readonly maxMessages = Infinity,
    private readonly maxOthers = Infinity,
  ) {}

  // what waits, in the order it goes out
  get frames(): RoomServerFrame[] {
    return this.typing.size === 0 ? this.kept : [...this.kept, ...this.typing.values()];
  }

  // false when the frame would hold more than `maxOthers` frames of other kinds than stored messages
  add(frame: RoomServerFrame): boolean {
    if (frame.type === 'typing') {
      this.typing.delete(frame.user_id);
      this.typing.set(frame.user_id, frame);
      return true;
    }
    if (isStoredRoomFrame(frame)) {
      if (frame.seq <= this.sent) return true;
      if (this.messages >= this.maxMessages) {
        this.passedOver = Math.max(this.passedOver, frame.seq);
        return true;
      }
      this.messages++;
    } else if (this.kept.length - this.messages >= this.maxOthers) return false;
    this.kept.push(frame);
    return true;
  }

  // The replay sent every stored message up to `seq`: the copies of them kept here go (their changes
  // stay, and go out after ready() as they came).
  sentThrough(seq: number): void {
    if (seq <= this.sent) return;
    this.sent = seq;
    if (this.messages === 0) return;
    let kept = 0;
    for (const frame of this.kept)
      if (!(isStoredRoomFrame(frame) && frame.seq <= seq)) this.kept[kept++] = frame;
    this.messages -= this.kept.length - kept;
    this.kept.length = kept;
  }
}

import type { RoomServerFrame } from '../../protocol/rooms';
import { chatFrame as chat, editFrame } from '../../../test/helpers/room-frames';
import { HeldFrames } from './room-held-frames';

// edits carry their change number here
const edit = (seq: number) => editFrame(seq, seq);

function typing(userId = 'someone', on = true): RoomServerFrame {
  return {
    type: 'typing',
    room_id: 'r1',
    user_id: userId,
    timestamp: new Date(0).toISOString(),
    metadata: { typing: on },
  };
}

function reaction(seq: number): RoomServerFrame {
  return {
    type: 'react',
    room_id: 'r1',
    message_id: `m${seq}`,
    seq,
    user_id: 'someone',
    timestamp: new Date(0).toISOString(),
    content: '👍',
    metadata: { removed: false },
  };
}

const described = (frames: RoomServerFrame[]) =>
  frames.map((frame) => `${frame.type}${'seq' in frame ? frame.seq : ''}`);

describe(HeldFrames.name, () => {
  it('should keep every frame in the order it came when nothing bounds it', () => {
    const held = new HeldFrames();
    for (const frame of [chat(2), reaction(2), chat(1), edit(1)]) expect(held.add(frame)).toBe(true);
    expect(described(held.frames)).toEqual(['chat2', 'react2', 'chat1', 'edit1']);
    expect(held.passedOver).toBe(0);
  });

  it("should keep only each user's last typing frame, after the rest", () => {
    const held = new HeldFrames(1, 1);
    for (const frame of [typing('a'), chat(1), typing('b'), typing('a', false), edit(1), typing('a')])
      expect(held.add(frame)).toBe(true);
    expect(
      held.frames.map((frame) => `${frame.type}${frame.type === 'typing' ? frame.user_id : ''}`),
    ).toEqual(['chat', 'edit', 'typingb', 'typinga']);
  });

  it('should drop the copies of messages the replay sent, and keep their changes', () => {
    const held = new HeldFrames(10, 10);
    for (const frame of [chat(3), edit(3), chat(4), chat(5), edit(5)]) held.add(frame);
    held.sentThrough(4);
    expect(described(held.frames)).toEqual(['edit3', 'chat5', 'edit5']);
    // a copy of a message sent already is not kept when it comes later either
    held.add(chat(2));
    held.add(chat(4));
    expect(described(held.frames)).toEqual(['edit3', 'chat5', 'edit5']);
    // a point below the one it stands at changes nothing
    held.sentThrough(1);
    expect(described(held.frames)).toEqual(['edit3', 'chat5', 'edit5']);
  });

  it('should not keep stored messages past its bound, only the highest seq of them', () => {
    const held = new HeldFrames(2, 10);
    for (const seq of [1, 2, 3, 4]) held.add(chat(seq));
    expect(described(held.frames)).toEqual(['chat1', 'chat2']);
    expect(held.passedOver).toBe(4);
    // room again once the replay sent some: kept again
    held.sentThrough(2);
    held.add(chat(5));
    expect(described(held.frames)).toEqual(['chat5']);
    expect(held.passedOver).toBe(4);
  });

  it('should answer false when frames of other kinds pass their bound, without keeping it', () => {
    const held = new HeldFrames(1, 2);
    expect(held.add(reaction(1))).toBe(true);
    expect(held.add(chat(1))).toBe(true);
    expect(held.add(edit(1))).toBe(true);
    expect(held.add(reaction(1))).toBe(false);
    expect(described(held.frames)).toEqual(['react1', 'chat1', 'edit1']);
  });
});

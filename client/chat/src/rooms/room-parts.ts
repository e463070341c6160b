import type { PresenceStatus, RoomClientFrame } from '../../../shared/protocol';
import { newClientId } from '../chat-client';
import type { ChatSocket } from '../chat-socket';
import { ReadMarks } from './read-marks';
import { RoomBlocks } from './room-blocks';
import { RoomHistory } from './room-history';
import { RoomFrames } from './room-frames';
import { RoomMembership } from './room-membership';
import { RoomOps } from './room-ops';
import { RoomSends } from './room-sends';
import type { RoomStore } from './room-store';
import type { RoomSummary } from './rooms-api';

// What the parts ask of RoomsClient: the room list, the open room and the notice live there.
export interface RoomsHost {
  readonly socket: ChatSocket;
  readonly store: RoomStore;
  readonly userId: string;
  readonly presence: Map<string, PresenceStatus>;
  token(): string | null;
  // a REST call the user made: a failure becomes the notice and null
  api<T>(call: (token: string) => Promise<T>): Promise<T | null>;
  rooms(): RoomSummary[];
  openId(): string | null;
  // the room is on screen
  seen(roomId: string): boolean;
  markRead(): void;
  // reads the room list again
  refresh(): void;
  // `what`: what failed, said before the code's text
  notify(code: string, what?: string): void;
  changed(): void;
}

export interface RoomParts {
  // which rooms the socket should be in and is in (room-membership.ts)
  readonly membership: RoomMembership;
  // this user's read marks until the server answers them (read-marks.ts)
  readonly reads: ReadMarks;
  // this user's messages on their way (room-sends.ts), and edits, deletes, reactions (room-ops.ts)
  readonly sends: RoomSends;
  readonly ops: RoomOps;
  // the rooms' REST history: older pages, gaps, changes made while away (room-history.ts)
  readonly history: RoomHistory;
  // what the socket brings (room-frames.ts)
  readonly frames: RoomFrames;
  // the user's blocks, read and written over REST (room-blocks.ts)
  readonly blocks: RoomBlocks;
}

// RoomsClient's parts, wired to each other and to the client.
export function roomParts(host: RoomsHost): RoomParts {
  const { socket, store, userId, changed } = host;
  const send = (frame: RoomClientFrame) => socket.send(frame as unknown as Record<string, unknown>);
  const membership = new RoomMembership(socket, store);
  const ready = (roomId: string) => membership.ready(roomId);
  const reads = new ReadMarks({
    send: (roomId, seq, clientId) => void send({ type: 'read', room_id: roomId, seq, client_id: clientId }),
    ready,
    newClientId,
  });
  const sends = new RoomSends(socket, store, userId);
  const ops = new RoomOps({ socket, store, userId, ready, changed });
  const history = new RoomHistory({
    store,
    membership,
    token: () => host.token(),
    api: (call) => host.api(call),
    connected: () => socket.state.kind === 'connected',
    stored: (frame) => frames.onStored(frame),
    changed,
  });
  const frames: RoomFrames = new RoomFrames({ ...host, membership, reads, sends, ops, history });
  const blocks = new RoomBlocks({
    blocks: store.blocks,
    token: () => host.token(),
    notify: (code, what) => host.notify(code, what),
    changed,
  });
  return { membership, reads, sends, ops, history, frames, blocks };
}

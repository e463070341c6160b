import { isDeltaFrame } from '../../protocol/frames';
import type { Connection } from './connection';
import { isStoredFrame, type SeqOrder } from './delivery-order';
import type { ServerFrame } from './frames';
import { CLOSE_SLOW_CLIENT } from './write-data';
import { closeSocket } from './close-socket';

// What ClientHub shows a socket of a frame: whether it shows it at all, to which side of a session it
// goes, what is held for a socket while its replay runs, and the seq it carries.

// Live frames a socket may have held for it while its replay waits or runs (a frame each, deltas
// included): past it the socket is closed as too slow (1013) and its client resumes from its last
// seq. The replay waits for one of the instance's places for whole-session reads, behind other
// users' large replays, and every frame of the session meanwhile was held without bound (a reply's
// deltas are ~1,000 frames; found reading the code in the third black-box audit).
export const MAX_PENDING_FRAMES = 10_000;

// Which side of a session a frame is for (typing indicators go to the other human side).
export type Audience = 'users' | 'admins';

// A frame of the socket's session that is not a stored event (an error, an ack of a command, a piece
// of a reply, a typing indicator) carries where the socket stands in the session's log, never less (CONTRACT §2:
// every session frame has seq, and it never goes back). One made on another instance, or stamped
// from this instance's last seq of the session, may be behind what the socket was shown: its seq
// went back (docs/protocol.md, "Frames"). The same object otherwise: serialized once for all.
// A frame naming another session (an error answering an admin's join, leave or message there) carries
// where that session's log stands, as this instance last knew it (`lastSeq`), else 0. Until the
// contract audit of session 44 it carried no seq at all (a second admin's join refused
// SESSION_LOCKED, 1 of 1; test/e2e/takeover.e2e-spec.ts).
export function standing(
  connection: Connection,
  frame: ServerFrame,
  order: Pick<SeqOrder<ServerFrame>, 'seqOf'>,
  lastSeq: (sessionId: string) => number | undefined = () => undefined,
): ServerFrame {
  if (frame.session_id === undefined) return frame;
  if (frame.session_id !== connection.sessionId)
    return frame.seq === undefined ? { ...frame, seq: lastSeq(frame.session_id) ?? 0 } : frame;
  // a stored event, and the ack of one (its id and seq name the stored copy: a resend's ack is the
  // first copy's), keep their own seq
  if (frame.type === 'connection_status' || isStoredFrame(frame)) return frame;
  if (frame.type === 'ack' && frame.id !== undefined && frame.seq !== undefined) return frame;
  const at = order.seqOf(connection);
  if (frame.seq === undefined) return { ...frame, seq: at ?? 0 };
  return at !== undefined && frame.seq < at ? { ...frame, seq: at } : frame;
}

export function matches(connection: Connection, filter: Audience | ((c: Connection) => boolean)): boolean {
  if (typeof filter === 'function') return filter(connection);
  return filter === 'admins' ? connection.principal.isAdmin : !connection.principal.isAdmin;
}

// The model never talks over an admin, on any socket (docs/protocol.md, "Takeover handoff"): a piece
// of a reply can still be on its way from an instance that has not heard of the takeover yet (the
// bus, or an outage of it), while this one has shown the socket the takeover's admin_join. Stored
// events are delivered to each socket in seq order, so what it was shown last is what it knows.
export function shows(connection: Connection, frame: ServerFrame): boolean {
  if (frame.type === 'admin_join') connection.assisted = true;
  else if (frame.type === 'admin_leave') connection.assisted = false;
  else if (connection.assisted && isDeltaFrame(frame)) return false;
  return true;
}

// A live frame held for a socket whose replay is not done (MAX_PENDING_FRAMES)
export function hold(connection: Connection, pending: ServerFrame[], frame: ServerFrame): void {
  if (pending.length < MAX_PENDING_FRAMES) pending.push(frame);
  else if (pending.length === MAX_PENDING_FRAMES) {
    // one more marks it closed: nothing else is held for it
    pending.push(frame);
    closeSocket(connection.socket, CLOSE_SLOW_CLIENT, 'client too slow; reconnect to catch up');
  }
}

import type { RoomClientFrame } from '../../../shared/protocol';
import { ChangeMark } from './change-mark';
import { ResumePoint } from './resume-point';
import { UnreadCount } from './unread-count';

export interface RoomMessage {
  // message_id once stored; `pending:<client_id>` before the ack
  key: string;
  messageId?: string;
  clientId?: string;
  seq?: number;
  userId: string;
  content: string;
  timestamp?: string;
  kind: 'text' | 'system';
  action?: string;
  targetUserId?: string;
  replyTo?: string;
  editedAt?: string;
  deleted: boolean;
  // not decrypted (metadata.unreadable, docs/protocol.md "Content at rest"): `content` is ""
  unreadable?: boolean;
  reactions: Record<string, string[]>;
  pending: boolean;
  failed?: string;
  // an edit, delete or reaction of this user on the message is not acked yet (shown as if done)
  opPending?: boolean;
  // the AI's reply (metadata.ai): the model, how it ended, the error when it failed
  ai?: { model: string; outcome: string; error?: string };
}

// An AI reply streaming in a room (ai_stream frames), until its stored message arrives.
export interface AiStream {
  replyId: string;
  replyTo: string;
  askerId: string;
  model: string;
  text: string;
  // the offset in the reply where `text` starts (0 unless joined mid-stream)
  from: number;
  // joined mid-stream (or a frame was missed): the text is not the whole reply so far
  partial: boolean;
  // the end frame came: how it ended (the stored message follows)
  outcome?: string;
}

export interface AiStreamInput {
  roomId: string;
  replyId: string;
  phase: string;
  replyTo: string;
  askerId: string;
  model: string;
  content?: string;
  offset?: number;
  outcome?: string;
}

// An edit, delete or reaction (added or taken back) of this user, from the moment it is made until its
// ack or error (docs/protocol.md, "Rooms", client behaviour): shown over the message meanwhile, and
// sent again with the same client_id after a reconnect once the room is joined again.
export interface PendingOp {
  clientId: string;
  // the user who made it (this client's)
  userId: string;
  messageId: string;
  kind: 'edit' | 'delete' | 'react';
  // the edited text, or the emoji
  content: string;
  // a reaction taken back
  remove: boolean;
  frame: RoomClientFrame;
  // sent on the socket of this connection (false: waits for the room's join on the next one)
  sent: boolean;
  // refused over the budget: sent again after its retry_after
  held?: boolean;
}

export interface RoomThread {
  roomId: string;
  byKey: Map<string, RoomMessage>;
  pendingKeys: Map<string, string>;
  // where a resume starts (join with last_seq): the end of the contiguous run of stored seqs held,
  // never past a missing one (docs/protocol.md, "Resume point")
  resume: ResumePoint;
  // the changed_after a reconnect reads the room's changes with (docs/protocol.md, "Change log"):
  // every change number up to it applied, never past one missed; undefined: the pages are read again
  changes: ChangeMark;
  // the join answered at least once: live frames from now on; a reconnect resumes from resume.point
  joined: boolean;
  // refused, kicked or banned: not in the room (any more); shown, not joined again by itself
  out: boolean;
  // paging cursor for older messages (REST before=); null when the start was reached
  nextBefore: number | null | undefined;
  online: Set<string>;
  typing: Map<string, number>;
  readBy: Map<string, number>;
  // the unread badge, counted as the server counts it (unread-count.ts)
  unread: UnreadCount;
  aiStreams: Map<string, AiStream>;
  // this user's operations not acked yet, by client_id, in the order they were made
  ops: Map<string, PendingOp>;
  // a read of the room's newest page is on its way (after a reconnect): the changes applied
  // meanwhile (frames, acks of ops), applied again over the page, which may be older than they are
  changesDuringRead: Array<(message: RoomMessage) => Partial<RoomMessage>> | null;
  changedDuringRead: string[];
  // the change number each message (its edits and delete) and each reaction carries as far as the
  // device knows (frames' metadata.change, a read of the log's metadata.change and reaction_changes;
  // docs/protocol.md, "Change log"): a change is applied only over an older one (changeKey)
  versions: Map<string, number>;
}

// A room's thread before anything of it arrived.
export function newThread(roomId: string): RoomThread {
  return {
    roomId,
    byKey: new Map(),
    pendingKeys: new Map(),
    resume: new ResumePoint(),
    changes: new ChangeMark(),
    joined: false,
    out: false,
    nextBefore: undefined,
    online: new Set(),
    typing: new Map(),
    readBy: new Map(),
    unread: new UnreadCount(),
    aiStreams: new Map(),
    ops: new Map(),
    changesDuringRead: null,
    changedDuringRead: [],
    versions: new Map(),
  };
}

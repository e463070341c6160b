import { compositeKey } from '../../common/composite-key';
import type { RoomMessageKind } from '../../protocol/rooms';
import type { ParticipantRole, ParticipantState } from './schemas/participant.schema';
import type { RoomKind } from './schemas/room.schema';

export type { ParticipantRole, ParticipantState, RoomKind };

// Plain records the repositories return (content decrypted).
export interface RoomRecord {
  id: string;
  kind: RoomKind;
  name: string;
  topic: string | null;
  owner_id: string;
  dm_users?: string[];
  created_at: Date;
  last_seq: number;
  last_message_at: Date | null;
  // the model `@ai` asks: a configured model id, `off`, or null for the default model
  ai_model: string | null;
}

export interface ParticipantRecord {
  room_id: string;
  user_id: string;
  role: ParticipantRole;
  state: ParticipantState;
  muted_until: Date | null;
  // the user's token named an admin when they last wrote this membership themself (absent: unknown)
  admin?: boolean;
}

export interface RoomMessageRecord {
  id: string;
  room_id: string;
  seq: number;
  sender_id: string;
  kind: RoomMessageKind;
  client_id?: string;
  content?: string;
  file_id?: string;
  reply_to?: string;
  metadata?: Record<string, unknown>;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  // the change number of its last edit or delete (docs/protocol.md, "Change log")
  change?: number;
}

export interface NewRoomMessage {
  // the id to store it under (an AI reply keeps the id its stream frames had); stored once by it
  id?: string;
  room_id: string;
  sender_id: string;
  kind: RoomMessageKind;
  client_id?: string;
  content?: string;
  file_id?: string;
  reply_to?: string;
  metadata?: Record<string, unknown>;
}

// `room|user` (compositeKey): a room id (a UUID, or `dm_` and base64url) holds neither `|` nor `\`,
// so this is the plain join it always was, whatever the user id holds
export const participantId = (roomId: string, userId: string): string => compositeKey([roomId, userId]);

// files shared in a room are attached under `room:<id>` (FILE_STORE scopes)
export const ROOM_FILE_SCOPE = 'room';
export const roomFileScope = (roomId: string): string => `${ROOM_FILE_SCOPE}:${roomId}`;
